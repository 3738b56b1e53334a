"""The config file's shape (pydantic): every key, its type, its unit and why its default is
what it is. config.load reads the file and the environment into it.

Everything that can be checked without AWS is checked here, so a typo fails at load time
(exit 2) instead of silently disabling failover at 3 a.m.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from awsfailover import defaults
from awsfailover.core.names import (
    AZ_RE,
    EIPALLOC_RE,
    ENI_RE,
    IFNAME_RE,
    NAME_RE,
    PL_RE,
    RTB_RE,
    SUBNET_RE,
)
from awsfailover.core.spec import PRIMARY, EipSpec, InstanceSpec
from awsfailover.errors import ConfigError


def _interface_name(v: str) -> str:
    # Linux IFNAMSIZ is 16 with the NUL; the name also lands in keepalived.conf verbatim.
    if not IFNAME_RE.match(v):
        raise ValueError(f"{v[:40]!r} is not a network interface name (1-15 of A-Za-z0-9_.-)")
    return v


def _eni_id(v: str | None) -> str | None:
    if v is not None and not ENI_RE.match(v):
        raise ValueError(f"{v!r} is not an ENI id (eni-...)")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeSettings(_Strict):
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


class EipSettings(_Strict):
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


class InstanceSettings(_Strict):
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


class GroupSettings(_Strict):
    """The failover group as a whole: what iam-policy, check-iam and doctor look at."""

    enis: list[str] = Field(
        default_factory=list,
        description="Every member's ENI, this node's included: the ENIs a VIP may move between.",
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

    @field_validator("account_id")
    @classmethod
    def _account(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^\d{12}$", v):
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


def _absolute(key: str, v: Path | None) -> Path | None:
    if v is not None and not v.is_absolute():
        # The hook runs with keepalived's working directory: a relative path would be a
        # different directory for every caller, and the maintenance flag would be invisible.
        raise ValueError(f"{key} must be an absolute path, not {str(v)!r}")
    return v


class FailoverSettings(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    deadline: float = Field(
        10.0,
        gt=0,
        le=300,
        description=(
            "Seconds one takeover may take, retries and confirmation included. Past it the "
            "result is reported as partial (exit 1); a takeover that never ends is worse than "
            "one that says what it could not do."
        ),
    )
    connect_timeout: float = Field(
        2.0, gt=0, le=60, description="Seconds to open a connection to the EC2 endpoint."
    )
    read_timeout: float = Field(
        5.0, gt=0, le=60, description="Seconds to wait for one EC2 response before retrying."
    )
    max_concurrency: int = Field(
        16,
        ge=1,
        le=64,
        description="Mutating calls in flight at once (one per route table, plus the VIP moves).",
    )
    state_dir: Path = Field(
        defaults.STATE_DIR,
        description="Sequence, lock and maintenance files; tmpfs so a reboot forgets them.",
    )
    fallback_state_dir: Path = Field(
        defaults.FALLBACK_STATE_DIR,
        description="Used, with a loud warning, when state_dir cannot be written (read-only "
        "or full): a file must never stop a failover.",
    )

    @field_validator("state_dir", "fallback_state_dir")
    @classmethod
    def _abs(cls, v: Path, info: ValidationInfo) -> Path:
        return _absolute(str(info.field_name), v) or v


class AgentSettings(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    fifo: Path | None = Field(
        defaults.FIFO,
        description="keepalived's vrrp_notify_fifo (`keepalived-config --use-agent` writes the "
        "same default); created if missing. The agent's last argument "
        "(vrrp_notify_fifo_script) takes precedence.",
    )
    socket: Path = Field(
        defaults.SOCKET,
        description="Unix socket the notify hook hands transitions to (mode 0600).",
    )
    metrics_address: str = Field(
        defaults.METRICS_ADDRESS,
        description="host:port for /metrics and /healthz; loopback so it is not exposed. "
        "Empty disables the listener.",
    )
    reconcile_interval: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds between drift checks (two Describe calls per cycle). 30 s keeps "
        "well inside the Describe token bucket even for many groups per account.",
    )
    takeover_deadline: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Seconds one agent takeover may take, retries and confirmation included.",
    )
    damping_max_moves: int = Field(
        3,
        ge=1,
        description="Drift repairs that moved something allowed per instance within "
        "damping_window since keepalived's last transition; past it drift repairs stop "
        "(split brain suspected).",
    )
    damping_window: float = Field(
        60.0, gt=0, le=86400, description="Seconds; see damping_max_moves."
    )
    health_max_age: float | None = Field(
        None,
        gt=0,
        le=86400,
        description="/healthz fails when the last good reconcile is older than this "
        "(seconds; default 3 x reconcile_interval).",
    )
    handoff_timeout: float = Field(
        defaults.HANDOFF_TIMEOUT,
        gt=0,
        le=defaults.HANDOFF_TIMEOUT_MAX,
        description="Seconds the hook waits for the agent's answer before doing the work itself.",
    )

    @field_validator("metrics_address")
    @classmethod
    def _addr(cls, v: str) -> str:
        if v:
            split_host_port(v)
        return v

    @field_validator("fifo", "socket")
    @classmethod
    def _abs(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is not None and any(c.isspace() or c in "\"'{}#!" for c in str(v)):
            # the FIFO path goes into keepalived.conf verbatim
            raise ValueError(f"{str(v)[:80]!r} must not contain spaces, quotes, braces, # or !")
        return _absolute(str(info.field_name), v)

    @property
    def health_age(self) -> float:
        return self.health_max_age or 3 * self.reconcile_interval


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AWSFAILOVER_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    region: str | None = Field(None, description="AWS Region; from instance metadata when absent.")
    endpoint_url: str | None = Field(
        None, description="EC2 endpoint override (VPC interface endpoint, or the local endpoint)."
    )
    node: NodeSettings = Field(default_factory=NodeSettings)  # type: ignore[arg-type]
    instances: list[InstanceSettings] = Field(default_factory=list)
    group: GroupSettings = Field(default_factory=GroupSettings)  # type: ignore[arg-type]
    failover: FailoverSettings = Field(default_factory=FailoverSettings)  # type: ignore[arg-type]
    agent: AgentSettings = Field(default_factory=AgentSettings)  # type: ignore[arg-type]

    _toml_doc: ClassVar[dict[str, Any] | None] = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls._toml_doc is not None:
            # The document load_settings already parsed: the file is read once, so what was
            # checked is what is used, whatever happens to the file meanwhile.
            sources.append(InitSettingsSource(settings_cls, init_kwargs=cls._toml_doc))
        return tuple(sources)

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[a-z]{2}(-[a-z]+)+-\d$", v):
            raise ValueError(f"{v!r} is not an AWS Region name")
        return v

    @model_validator(mode="after")
    def _unique(self) -> Settings:
        """One owner per name, VIP and route (linear: a group may have hundreds of instances).
        Two instances sharing a VIP, or a route in tables that may overlap, would move it back
        and forth with every transition of either."""
        names = Counter(i.name for i in self.instances)
        dupes = sorted(n for n, c in names.items() if c > 1)
        if dupes:
            raise ValueError(f"instance names must be unique: {', '.join(dupes)}")
        vip_owner: dict[str, str] = {}
        eip_owner: dict[str, str] = {}
        route_owner: dict[str, InstanceSettings] = {}
        for inst in self.instances:
            for eip in inst.eips:
                other = eip_owner.setdefault(eip.allocation_id, inst.name)
                if other != inst.name:
                    raise ValueError(
                        f"instances.{inst.name}.eips: {eip.allocation_id} is also in {other}"
                    )
            if inst.auto_routes:
                if not self.group.enis:
                    raise ValueError(
                        f'instances.{inst.name}.routes: "auto" needs group.enis (the ENIs '
                        "whose routes it selects)"
                    )
                inst_key = "auto"  # two auto instances on overlapping tables would fight
            else:
                inst_key = ""
            for vip in inst.vips:
                other = vip_owner.setdefault(vip, inst.name)
                if other != inst.name:
                    raise ValueError(f"instances.{inst.name}.vips: {vip} is also in {other}")
            for dest in [inst_key] if inst_key else inst.explicit_routes:
                prev = route_owner.setdefault(dest, inst)
                if prev is inst:
                    continue
                if (
                    prev.route_tables is None
                    or inst.route_tables is None
                    or set(prev.route_tables) & set(inst.route_tables)
                ):
                    raise ValueError(
                        f"instances.{inst.name}.routes: {dest} is also in {prev.name} and the "
                        "two may select the same route table (list disjoint route_tables)"
                    )
        return self

    def instance(self, name: str) -> InstanceSettings:
        for inst in self.instances:
            if inst.name == name:
                return inst
        known = ", ".join(i.name for i in self.instances) or "none"
        raise ConfigError(f"unknown instance {name!r} (configured: {known})")

    @property
    def specs(self) -> list[InstanceSpec]:
        """Every instance as the planner and the engine read it."""
        return [i.spec for i in self.instances]


def split_host_port(address: str) -> tuple[str, int]:
    """`127.0.0.1:9108`, `[::1]:9108`, `localhost:9108` -> (host, port)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise ValueError(f"{address!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{address!r}: {host!r} is not an IPv6 address") from None
    elif ":" in host:
        raise ValueError(f"{address!r}: write an IPv6 host in brackets, [{host}]:{port}")
    return host, int(port)
