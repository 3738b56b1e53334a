"""The argument parser: every subcommand, argument and flag. argparse only."""

from __future__ import annotations

import argparse

__all__ = ["build"]


def build() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="awsfailover",
        description="Move VIPs and routes inside an AWS VPC when keepalived changes state.",
    )
    p.add_argument(
        "--config",
        help="config file (default: $AWSFAILOVER_CONFIG, else /etc/awsfailover/config.toml)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("--log-json", action="store_true", help="log one JSON object per line")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    n = sub.add_parser("notify", help="keepalived notify hook: TYPE NAME STATE [PRIORITY]")
    n.add_argument("type", metavar="TYPE", help="INSTANCE or GROUP")
    n.add_argument("name", metavar="NAME", help="vrrp_instance or vrrp_sync_group name")
    n.add_argument("state", metavar="STATE", help="MASTER, BACKUP, FAULT or STOP")
    n.add_argument("priority", metavar="PRIORITY", nargs="?", default=None)

    t = sub.add_parser("takeover", help="converge instances onto this node now")
    t.add_argument("names", metavar="NAME", nargs="*", help="instances (default: all)")
    t.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    t.add_argument(
        "--force",
        action="store_true",
        help="take over even where keepalived has this node BACKUP (an operator action: the "
        "master's agent repairs it back)",
    )

    s = sub.add_parser("status", help="who holds each VIP and where each route points")
    s.add_argument("--json", action="store_true", help="machine-readable output")

    a = sub.add_parser("agent", help="long-running daemon fed by keepalived's notify FIFO")
    a.add_argument(
        "fifo",
        metavar="FIFO",
        nargs="?",
        default=None,
        help="notify FIFO (keepalived's vrrp_notify_fifo_script passes it last)",
    )

    ip = sub.add_parser("iam-policy", help="print the least-privilege IAM policy for the group")
    ip.add_argument("--eni", action="append", default=[], help="a group ENI (repeatable)")
    ip.add_argument("--route-table", action="append", default=[], help="rtb-... (repeatable)")
    ip.add_argument("--account", help="12-digit account id (default: group.account_id)")
    ip.add_argument("--region", help="Region (default: the config's); picks the ARN partition")
    ip.add_argument("--tag", help="KEY=VALUE: scope the ENI statements by tag, not by id")
    ip.add_argument(
        "--role",
        help="role name or /path/name: add the statement check-iam needs to simulate it",
    )
    ip.add_argument("--ipv6", action="store_true", help="grant the IPv6 actions (no config)")
    ip.add_argument(
        "--eip",
        action="append",
        default=[],
        help="an Elastic IP allocation id to reassociate (repeatable)",
    )

    ci = sub.add_parser("check-iam", help="evaluate the policy the agent needs, on this node")
    ci.add_argument(
        "--principal-arn",
        help="simulate this role instead of the caller (with credentials that may simulate)",
    )

    d = sub.add_parser("doctor", help="check the whole setup; PASS/WARN/FAIL with fixes")
    d.add_argument(
        "--expect-agent", action="store_true", help="the agent must be running and healthy"
    )

    k = sub.add_parser("keepalived-config", help="print keepalived.conf for this node")
    k.add_argument("--self", dest="self_ip", required=True, help="this node's VRRP source IP")
    k.add_argument("--peer", action="append", required=True, help="a peer's IP (repeatable)")
    k.add_argument("--priority", type=int, default=100, help="VRRP priority 1..254 (100)")
    k.add_argument("--advert-int", type=float, default=1.0, help="seconds between adverts (1)")
    k.add_argument("--use-agent", action="store_true", help="also feed the agent's FIFO")
    k.add_argument("--nopreempt", action="store_true", help="a returning node stays BACKUP")
    k.add_argument("--vrid", type=int, default=51, help="first virtual_router_id (51)")
    k.add_argument("--script-user", default="root", help="keepalived script_user (root)")
    k.add_argument("--executable", help="awsfailover path keepalived runs (default: this one)")
    k.add_argument(
        "--script-checks",
        action="store_true",
        help="vrrp_script checks (a process every 1-2 s) for keepalived without track_file "
        "and vrrp_track_process",
    )

    m = sub.add_parser("maintenance", help="hand mastership over gracefully (on|off|status)")
    m.add_argument("mode", choices=("on", "off", "status"))

    kc = sub.add_parser("keepalived-check", help="vrrp_script target: maintenance | agent")
    kc.add_argument("what", choices=("maintenance", "agent"))

    sub.add_parser("demo", help="fail a group over in the built-in local EC2 endpoint")
    return p
