"""Security group rules and subnet CIDR reservations as doctor and Terraform read them."""

from __future__ import annotations

from typing import Any

from awsfailover.sim.strict.state import (
    ORIG,
)

_PORTED = frozenset({"tcp", "udp", "icmp", "icmpv6", "6", "17", "1", "58"})


def security_group_rule_init(  # noqa: PLR0917 - moto's own signature
    self: Any,
    ec2_backend: Any,
    ip_protocol: str,
    group_id: str,
    from_port: Any,
    to_port: Any,
    *args: Any,
    **kwargs: Any,
) -> None:
    """AWS: protocols without ports (VRRP is IP protocol 112) take a rule with no port range;
    moto crashes on int(None)."""
    portless = str(ip_protocol).lower() not in _PORTED and from_port is None and to_port is None
    ORIG["sg_rule_init"](
        self,
        ec2_backend,
        ip_protocol,
        group_id,
        "0" if portless else from_port,
        "0" if portless else to_port,
        *args,
        **kwargs,
    )
    if portless:
        self.from_port = self.to_port = None


def create_subnet_cidr_reservation_response(self: Any) -> Any:
    """AWS stores and returns the reservation's Description; moto drops it (so Terraform
    would plan to replace every reservation on each run)."""
    result = ORIG["create_subnet_cidr_reservation"](self)
    result.result["SubnetCidrReservation"].description = self._get_param("Description")
    return result
