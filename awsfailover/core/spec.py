"""The desired state the planner reads: frozen dataclasses, built once from the validated
config (config.schema's `InstanceSettings.spec`). Pure, so the planner and its tests need no
pydantic, and nothing the planner holds can change under it."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["AUTO", "PRIMARY", "EipSpec", "InstanceSpec"]

PRIMARY = "primary"  # an Elastic IP's private_ip: the ENI's primary address
AUTO = "auto"  # an instance's routes: every route of its tables that targets a group ENI


@dataclass(frozen=True)
class EipSpec:
    allocation_id: str
    # an address, PRIMARY, a map of Availability Zone to either, or None (the first IPv4 VIP)
    private_ip: str | Mapping[str, str] | None = None


@dataclass(frozen=True)
class InstanceSpec:
    name: str
    vips: tuple[str, ...] = ()
    routes: tuple[str, ...] | Literal["auto"] = ()
    eips: tuple[EipSpec, ...] = ()
    interface: str | None = None
    eni_id: str | None = None
    route_tables: tuple[str, ...] | None = None
    subnet_ids: tuple[str, ...] | None = None
    # routes = "auto": the ENIs whose routes are this instance's (None: see Observer._auto)
    route_enis: tuple[str, ...] | None = None
    ipv4_vips: tuple[str, ...] = field(init=False)
    ipv6_vips: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        versions = [(v, ipaddress.ip_address(v).version) for v in self.vips]
        object.__setattr__(self, "ipv4_vips", tuple(v for v, n in versions if n == 4))
        object.__setattr__(self, "ipv6_vips", tuple(v for v, n in versions if n == 6))

    @property
    def auto_routes(self) -> bool:
        return self.routes == AUTO

    @property
    def explicit_routes(self) -> tuple[str, ...]:
        return () if isinstance(self.routes, str) else self.routes
