"""The config as the failover path reads it, without pydantic: frozen dataclasses, a Protocol
both they and the validated Settings satisfy, and their JSON form.

The MASTER hook without an agent starts cold on every transition, and importing pydantic is
about 40 % of that start. So after a full validation the hook keeps this compact form in a
cache (config.cache) and, while the config and the AWSFAILOVER_* environment are unchanged,
builds the failover from it. Everything else (the agent, takeover, doctor...) validates fully.
Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from awsfailover.core.spec import AUTO, EipSpec, InstanceSpec
from awsfailover.errors import ConfigError

__all__ = [
    "CompactSettings",
    "FailoverConfig",
    "find_instance",
    "from_doc",
    "to_doc",
]

FORMAT = 2  # bump when the document's shape changes: an old cache is then simply a miss


# --- what the failover path reads: the Protocol the engine is typed with --------------------


class _Node(Protocol):
    @property
    def eni_id(self) -> str | None: ...
    @property
    def interface(self) -> str: ...


class _Failover(Protocol):
    @property
    def deadline(self) -> float: ...
    @property
    def connect_timeout(self) -> float: ...
    @property
    def read_timeout(self) -> float: ...
    @property
    def max_concurrency(self) -> int: ...
    @property
    def state_dir(self) -> Path: ...
    @property
    def fallback_state_dir(self) -> Path: ...


class _Group(Protocol):
    @property
    def enis(self) -> Sequence[str]: ...
    @property
    def name(self) -> str | None: ...


class _Arbiter(Protocol):
    @property
    def table(self) -> str: ...
    @property
    def lease_ttl(self) -> float: ...
    @property
    def on_unreachable(self) -> str: ...


class _Instance(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def spec(self) -> InstanceSpec: ...


class FailoverConfig(Protocol):
    """What observing, planning and moving read of the config: Settings (validated now) or
    CompactSettings (validated when the cache was written) alike."""

    @property
    def region(self) -> str | None: ...
    @property
    def endpoint_url(self) -> str | None: ...
    @property
    def node(self) -> _Node: ...
    @property
    def failover(self) -> _Failover: ...
    @property
    def group(self) -> _Group: ...
    @property
    def instances(self) -> Sequence[_Instance]: ...
    @property
    def arbiter(self) -> _Arbiter | None: ...
    @property
    def specs(self) -> list[InstanceSpec]: ...
    def instance(self, name: str) -> _Instance: ...


# --- the compact form ---------------------------------------------------------------------


@dataclass(frozen=True)
class CompactNode:
    eni_id: str | None
    interface: str


@dataclass(frozen=True)
class CompactFailover:
    deadline: float
    connect_timeout: float
    read_timeout: float
    max_concurrency: int
    state_dir: Path
    fallback_state_dir: Path


@dataclass(frozen=True)
class CompactGroup:
    enis: tuple[str, ...]
    name: str | None = None


@dataclass(frozen=True)
class CompactArbiter:
    table: str
    lease_ttl: float
    on_unreachable: str


@dataclass(frozen=True)
class CompactInstance:
    name: str
    spec: InstanceSpec


@dataclass(frozen=True)
class CompactSettings:
    region: str | None
    endpoint_url: str | None
    node: CompactNode
    failover: CompactFailover
    group: CompactGroup
    instances: tuple[CompactInstance, ...]
    arbiter: CompactArbiter | None = None

    @property
    def specs(self) -> list[InstanceSpec]:
        return [i.spec for i in self.instances]

    def instance(self, name: str) -> CompactInstance:
        return find_instance(self.instances, name)


Named = TypeVar("Named", bound=_Instance)


def find_instance(instances: Sequence[Named], name: str) -> Named:
    """The configured instance called name; the one error line every path gives otherwise."""
    for inst in instances:
        if inst.name == name:
            return inst
    known = ", ".join(i.name for i in instances) or "none"
    raise ConfigError(f"unknown instance {name!r} (configured: {known})")


def to_doc(settings: FailoverConfig) -> dict[str, Any]:
    """The JSON document of what the failover path reads (after a full validation)."""
    f = settings.failover
    return {
        "format": FORMAT,
        "region": settings.region,
        "endpoint_url": settings.endpoint_url,
        "node": {"eni_id": settings.node.eni_id, "interface": settings.node.interface},
        "failover": {
            "deadline": f.deadline,
            "connect_timeout": f.connect_timeout,
            "read_timeout": f.read_timeout,
            "max_concurrency": f.max_concurrency,
            "state_dir": str(f.state_dir),
            "fallback_state_dir": str(f.fallback_state_dir),
        },
        "group": {"enis": list(settings.group.enis), "name": settings.group.name},
        "instances": [_spec_doc(i.spec) for i in settings.instances],
        "arbiter": None
        if (a := settings.arbiter) is None
        else {"table": a.table, "lease_ttl": a.lease_ttl, "on_unreachable": a.on_unreachable},
    }


def _spec_doc(s: InstanceSpec) -> dict[str, Any]:
    return {
        "name": s.name,
        "vips": list(s.vips),
        "routes": s.routes if isinstance(s.routes, str) else list(s.routes),
        "eips": [
            {
                "allocation_id": e.allocation_id,
                "private_ip": e.private_ip
                if not isinstance(e.private_ip, dict)
                else dict(e.private_ip),
            }
            for e in s.eips
        ],
        "interface": s.interface,
        "eni_id": s.eni_id,
        "route_tables": None if s.route_tables is None else list(s.route_tables),
        "subnet_ids": None if s.subnet_ids is None else list(s.subnet_ids),
        "route_enis": None if s.route_enis is None else list(s.route_enis),
    }


def from_doc(doc: dict[str, Any]) -> CompactSettings:
    """The compact settings from to_doc's document; KeyError/TypeError/ValueError when it is
    not one (the caller treats that as no cache)."""
    if doc.get("format") != FORMAT:
        raise ValueError(f"cache format {doc.get('format')!r}, not {FORMAT}")
    f = doc["failover"]
    return CompactSettings(
        region=doc["region"],
        endpoint_url=doc["endpoint_url"],
        node=CompactNode(doc["node"]["eni_id"], doc["node"]["interface"]),
        failover=CompactFailover(
            deadline=float(f["deadline"]),
            connect_timeout=float(f["connect_timeout"]),
            read_timeout=float(f["read_timeout"]),
            max_concurrency=int(f["max_concurrency"]),
            state_dir=Path(f["state_dir"]),
            fallback_state_dir=Path(f["fallback_state_dir"]),
        ),
        group=CompactGroup(tuple(doc["group"]["enis"]), doc["group"]["name"]),
        instances=tuple(CompactInstance(i["name"], _spec(i)) for i in doc["instances"]),
        arbiter=None
        if (a := doc["arbiter"]) is None
        else CompactArbiter(str(a["table"]), float(a["lease_ttl"]), str(a["on_unreachable"])),
    )


def _spec(i: dict[str, Any]) -> InstanceSpec:
    def opt(key: str) -> tuple[str, ...] | None:
        return None if i[key] is None else tuple(i[key])

    routes = i["routes"]
    if isinstance(routes, str) and routes != AUTO:
        raise ValueError(f"routes {routes!r}")
    return InstanceSpec(
        name=i["name"],
        vips=tuple(i["vips"]),
        routes="auto" if isinstance(routes, str) else tuple(routes),
        eips=tuple(EipSpec(e["allocation_id"], e["private_ip"]) for e in i["eips"]),
        interface=i["interface"],
        eni_id=i["eni_id"],
        route_tables=opt("route_tables"),
        subnet_ids=opt("subnet_ids"),
        route_enis=opt("route_enis"),
    )
