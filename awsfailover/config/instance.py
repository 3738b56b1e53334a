"""The config's node, group and instance sections (pydantic): what moves, and where.

Everything that can be checked without AWS is checked here, so a typo fails at load time
(exit 2) instead of silently disabling failover at 3 a.m.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from awsfailover.core.names import (
    ACCOUNT_RE,
    AZ_RE,
    EIPALLOC_RE,
    ENI_RE,
    GROUP_NAME_RE,
    IFNAME_RE,
    NAME_RE,
    PL_RE,
    RTB_RE,
    SUBNET_RE,
)
from awsfailover.core.spec import PRIMARY, EipSpec, InstanceSpec

__all__ = ["EipSettings", "GroupSettings", "InstanceSettings", "NodeSettings", "Strict"]


def _interface_name(v: str) -> str:
    # Linux IFNAMSIZ is 16 with the NUL; the name also lands in keepalived.conf verbatim.
    if not IFNAME_RE.match(v):
        raise ValueError(f"{v[:40]!r} is not a network interface name (1-15 of A-Za-z0-9_.-)")
    return v


def _eni_id(v: str | None) -> str | None:
    if v is not None and not ENI_RE.match(v):
        raise ValueError(f"{v!r} is not an ENI id (eni-...)")
    return v


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSettings(Strict):
    interface: str = Field(
        "eth0",
        description="OS interface keepalived puts the VIPs on; its ENI is found by MAC via IMDSv2.",
    )
    eni_id: str | None = Field(
        None, description="This node's ENI. When set, no instance-metadata lookup is made."
    )

    @field_validator("interface")
    @classmethod
    def _interface(cls, v: str) -> str:
        return _interface_name(v)

    @field_validator("eni_id")
    @classmethod
    def _eni(cls, v: str | None) -> str | None:
        return _eni_id(v)


class EipSettings(Strict):
    allocation_id: str = Field(description="The Elastic IP's allocation id (eipalloc-...).")
    private_ip: str | dict[str, str] | None = Field(
        None,
        description="The private IPv4 address of this node's ENI the Elastic IP points at: an "
        'address, "primary" (the ENI\'s primary address), or a map of Availability Zone to '
        "address for a pair in two AZs (each node uses its own AZ's). Default: the instance's "
        "first IPv4 VIP.",
    )

    @field_validator("allocation_id")
    @classmethod
    def _alloc(cls, v: str) -> str:
        if not EIPALLOC_RE.match(v):
            raise ValueError(f"{v[:40]!r} is not an Elastic IP allocation id (eipalloc-...)")
        return v

    @field_validator("private_ip")
    @classmethod
    def _private(cls, v: str | dict[str, str] | None) -> str | dict[str, str] | None:
        def addr(raw: str) -> str:
            if raw == PRIMARY:
                return raw
            try:
                ip = ipaddress.ip_address(raw)
            except ValueError:
                raise ValueError(f'{raw[:40]!r} is not an IPv4 address or "primary"') from None
            if ip.version != 4:
                raise ValueError(f"{raw} is IPv6: an Elastic IP maps to a private IPv4 address")
            return str(ip)

        if isinstance(v, dict):
            if not v:
                raise ValueError("the Availability Zone map is empty")
            for az in v:
                if not AZ_RE.match(az):
                    raise ValueError(f"{az[:40]!r} is not an Availability Zone name")
            return {az: addr(ip) for az, ip in v.items()}
        return None if v is None else addr(v)


class InstanceSettings(Strict):
    name: str = Field(description="keepalived vrrp_instance (or vrrp_sync_group) name.")
    vips: list[str] = Field(default_factory=list, description="IPv4 and IPv6 addresses to move.")
    routes: list[str] | Literal["auto"] = Field(
        default_factory=list,
        description="Destinations (IPv4/IPv6 CIDR or prefix-list id) to point at this node's "
        'ENI, or "auto": every route of the selected tables that targets an ENI of '
        "group.enis (a destination another instance lists explicitly stays with it).",
    )
    eips: list[EipSettings] = Field(
        default_factory=list,
        description="Elastic IPs to reassociate to this node's ENI on MASTER.",
    )
    interface: str | None = Field(
        None,
        description="OS interface of this instance on a multi-NIC node (default node.interface); "
        "its ENI is found by MAC, and keepalived puts this instance's VIPs on it.",
    )
    eni_id: str | None = Field(
        None,
        description="This instance's ENI on a multi-NIC node (default: the ENI of `interface`, "
        "else node.eni_id). No instance-metadata lookup is made for it.",
    )
    route_enis: list[str] | None = Field(
        None,
        description='With routes = "auto": the ENIs whose routes this instance takes (default: '
        "group.enis; on a multi-NIC node, the group ENIs in this instance's ENI's subnet).",
    )
    route_tables: list[str] | None = Field(None, description="Explicit route table ids.")
    subnet_ids: list[str] | None = Field(
        None, description="Use every route table explicitly associated with these subnets."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME_RE.match(v):
            raise ValueError(f"{v[:70]!r} is not a valid keepalived instance name")
        return v

    @field_validator("vips")
    @classmethod
    def _vips(cls, v: list[str]) -> list[str]:
        out = []
        for raw in v:
            try:
                addr = ipaddress.ip_address(raw)
            except ValueError:
                raise ValueError(f"{raw!r} is not an IP address") from None
            out.append(str(addr))  # canonical form: that is how EC2 reports it back
        if len(set(out)) != len(out):
            raise ValueError("duplicate VIP")
        return out

    @field_validator("interface")
    @classmethod
    def _interface(cls, v: str | None) -> str | None:
        return None if v is None else _interface_name(v)

    @field_validator("eni_id")
    @classmethod
    def _eni(cls, v: str | None) -> str | None:
        return _eni_id(v)

    @field_validator("routes")
    @classmethod
    def _routes(cls, v: list[str] | str) -> list[str] | str:
        if isinstance(v, str):
            return v  # "auto"; the type allows nothing else
        out = []
        for raw in v:
            if raw.startswith("pl-"):
                if not PL_RE.match(raw):
                    raise ValueError(f"{raw!r} is not a prefix-list id (pl-...)")
                out.append(raw)
                continue
            try:
                net = ipaddress.ip_network(raw, strict=True)
            except ValueError as exc:
                raise ValueError(f"route {raw!r} is not a CIDR or prefix-list id: {exc}") from None
            out.append(str(net))
        if len(set(out)) != len(out):
            raise ValueError("duplicate route destination")
        return out

    @field_validator("route_enis")
    @classmethod
    def _route_enis(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("is empty: leave it out for the default, or list the ENIs")
        return [e for e in (_eni_id(x) for x in v) if e is not None]

    @field_validator("route_tables")
    @classmethod
    def _rtbs(cls, v: list[str] | None) -> list[str] | None:
        for r in v or []:
            if not RTB_RE.match(r):
                raise ValueError(f"{r!r} is not a route table id (rtb-...)")
        return v

    @field_validator("subnet_ids")
    @classmethod
    def _subnets(cls, v: list[str] | None) -> list[str] | None:
        for s in v or []:
            if not SUBNET_RE.match(s):
                raise ValueError(f"{s!r} is not a subnet id (subnet-...)")
        return v

    @model_validator(mode="after")
    def _one_selector(self) -> InstanceSettings:
        if self.route_tables is not None and self.subnet_ids is not None:
            raise ValueError("set route_tables or subnet_ids, not both")
        if self.route_enis is not None and self.routes != "auto":
            raise ValueError('route_enis needs routes = "auto"')
        if not self.vips and not self.routes and not self.eips:
            raise ValueError("an instance needs at least one vip, route or eip")
        allocs = [e.allocation_id for e in self.eips]
        if len(set(allocs)) != len(allocs):
            raise ValueError("duplicate Elastic IP allocation id")
        for eip in self.eips:
            if eip.private_ip is None and not self.ipv4_vips:
                raise ValueError(
                    f"eips: {eip.allocation_id} needs private_ip (no IPv4 VIP to default to)"
                )
        # EC2 keeps one Elastic IP per private address: a second would knock the first off on
        # every takeover. Known here unless a per-AZ map is involved (checked at plan time).
        seen: dict[str, str] = {}
        for eip in self.eips:
            if isinstance(eip.private_ip, dict):
                continue
            where = eip.private_ip or self.ipv4_vips[0]
            if where in seen:
                raise ValueError(
                    f"eips: {seen[where]} and {eip.allocation_id} both map to {where}; EC2 "
                    "keeps one Elastic IP per private address"
                )
            seen[where] = eip.allocation_id
        return self

    @functools.cached_property
    def spec(self) -> InstanceSpec:
        """What the planner reads: the same instance as frozen dataclasses."""
        return InstanceSpec(
            name=self.name,
            vips=tuple(self.vips),
            routes=self.routes if isinstance(self.routes, str) else tuple(self.routes),
            eips=tuple(EipSpec(e.allocation_id, e.private_ip) for e in self.eips),
            interface=self.interface,
            eni_id=self.eni_id,
            route_tables=None if self.route_tables is None else tuple(self.route_tables),
            subnet_ids=None if self.subnet_ids is None else tuple(self.subnet_ids),
            route_enis=None if self.route_enis is None else tuple(self.route_enis),
        )

    @property
    def auto_routes(self) -> bool:
        return self.spec.auto_routes

    @property
    def explicit_routes(self) -> tuple[str, ...]:
        return self.spec.explicit_routes

    @property
    def ipv4_vips(self) -> tuple[str, ...]:
        return self.spec.ipv4_vips

    @property
    def ipv6_vips(self) -> tuple[str, ...]:
        return self.spec.ipv6_vips


class GroupSettings(Strict):
    """The failover group as a whole: what iam-policy, check-iam and doctor look at."""

    enis: list[str] = Field(
        default_factory=list,
        description="Every member's ENI, this node's included: the ENIs a VIP may move between.",
    )
    name: str | None = Field(
        None,
        description="The group's name, the same on every member: the arbiter's leases are "
        "<name>/<instance>, so many groups share one table (required with [arbiter]).",
    )
    account_id: str | None = Field(
        None, description="12-digit account id, for the ARNs iam-policy prints."
    )
    resource_tag: str | None = Field(
        None,
        description="KEY=VALUE: scope the policy's ENI statements by this tag instead of by "
        "ENI id (for groups whose ENIs are replaced often).",
    )

    @field_validator("enis")
    @classmethod
    def _enis(cls, v: list[str]) -> list[str]:
        for e in v:
            if not ENI_RE.match(e):
                raise ValueError(f"{e!r} is not an ENI id (eni-...)")
        if len(set(v)) != len(v):
            raise ValueError("duplicate ENI")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not GROUP_NAME_RE.match(v):
            raise ValueError(f"{v[:80]!r} is not a group name (1-64 of A-Z a-z 0-9 . _ -)")
        return v

    @field_validator("account_id")
    @classmethod
    def _account(cls, v: str | None) -> str | None:
        if v is not None and not ACCOUNT_RE.match(v):
            raise ValueError(f"{v!r} is not a 12-digit account id")
        return v

    @field_validator("resource_tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        if v is not None and ("=" not in v or not v.split("=", 1)[0]):
            raise ValueError(f"{v!r} is not KEY=VALUE")
        return v

    @property
    def tag(self) -> tuple[str, str] | None:
        if self.resource_tag is None:
            return None
        key, value = self.resource_tag.split("=", 1)
        return key, value
