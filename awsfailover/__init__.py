"""awsfailover: keepalived-driven failover of VIPs and routes inside an AWS VPC."""

__version__ = "0.1.0"
