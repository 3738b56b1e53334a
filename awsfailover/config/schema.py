"""The config file's shape (pydantic): every key, its type, its unit and why its default is
what it is. config.load reads the file and the environment into it.

The node, group and instance sections are in config.instance (re-exported here). Everything
that can be checked without AWS is checked at load, so a typo fails with exit 2 instead of
silently disabling failover at 3 a.m.
"""

from __future__ import annotations

__all__ = [
    "AgentSettings",
    "ArbiterSettings",
    "EipSettings",
    "EventsSettings",
    "FailoverSettings",
    "GroupSettings",
    "InstanceSettings",
    "NodeSettings",
    "Settings",
    "split_host_port",
]

import ipaddress
import re
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

from pydantic import (
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
from awsfailover.config.arbiter import ArbiterSettings
from awsfailover.config.compact import find_instance
from awsfailover.config.instance import (
    EipSettings,
    GroupSettings,
    InstanceSettings,
    NodeSettings,
    Strict,
)
from awsfailover.core.spec import InstanceSpec


def _absolute(key: str, v: Path | None) -> Path | None:
    if v is not None and not v.is_absolute():
        # The hook runs with keepalived's working directory: a relative path would be a
        # different directory for every caller, and the maintenance flag would be invisible.
        raise ValueError(f"{key} must be an absolute path, not {str(v)!r}")
    return v


class FailoverSettings(Strict):
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


class AgentSettings(Strict):
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
    keepalived_pidfile: Path = Field(
        defaults.KEEPALIVED_PIDFILE,
        description="keepalived's pid file (its -p option). While it names no running "
        "keepalived (killed, OOM), this node's role is unknown: the agent repairs nothing and "
        "/healthz fails until keepalived reports a state again.",
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

    @field_validator("fifo", "socket", "keepalived_pidfile")
    @classmethod
    def _abs(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is not None and any(c.isspace() or c in "\"'{}#!" for c in str(v)):
            # the FIFO path goes into keepalived.conf verbatim
            raise ValueError(f"{str(v)[:80]!r} must not contain spaces, quotes, braces, # or !")
        return _absolute(str(info.field_name), v)

    @property
    def health_age(self) -> float:
        return self.health_max_age or 3 * self.reconcile_interval


_SNS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$")
_BUS_RE = re.compile(
    r"^(arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/)?[A-Za-z0-9._/-]{1,256}$"
)


class EventsSettings(Strict):
    """Where the agent sends its events (the README's event schema): any subset, or none."""

    webhook_url: str | None = Field(
        None, description="POST each event as JSON here (http or https)."
    )
    webhook_secret_file: Path | None = Field(
        None,
        description="A file holding the HMAC-SHA256 key: each POST carries "
        "X-Awsfailover-Signature: sha256=<hex of the body's HMAC>.",
    )
    sns_topic_arn: str | None = Field(None, description="Publish each event to this topic.")
    eventbridge_bus: str | None = Field(
        None,
        description='PutEvents to this bus (name or ARN; "default"): Source "awsfailover", '
        "DetailType the event's type.",
    )

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None:
            u = urllib.parse.urlsplit(v)
            if u.scheme not in ("http", "https") or not u.hostname:
                raise ValueError(f"{v[:80]!r} is not an http(s) URL")
        return v

    @field_validator("webhook_secret_file")
    @classmethod
    def _secret(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        return _absolute(str(info.field_name), v)

    @field_validator("sns_topic_arn")
    @classmethod
    def _topic(cls, v: str | None) -> str | None:
        if v is not None and not _SNS_ARN_RE.match(v):
            raise ValueError(f"{v[:80]!r} is not an SNS topic ARN")
        return v

    @field_validator("eventbridge_bus")
    @classmethod
    def _bus(cls, v: str | None) -> str | None:
        if v is not None and not _BUS_RE.match(v):
            raise ValueError(f"{v[:80]!r} is not an event bus name or ARN")
        return v

    @property
    def any(self) -> bool:
        return any((self.webhook_url, self.sns_topic_arn, self.eventbridge_bus))


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
    events: EventsSettings = Field(default_factory=EventsSettings)  # type: ignore[arg-type]
    arbiter: ArbiterSettings | None = None

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

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is None:
            return v
        parts = urllib.parse.urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{v[:80]!r} is not an http(s) URL")
        return v

    @model_validator(mode="after")
    def _arbiter_group(self) -> Settings:
        if self.arbiter is not None and self.group.name is None:
            raise ValueError(
                "[arbiter] needs group.name: the leases are <group.name>/<instance>, and it "
                "must be the same on every member"
            )
        return self

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
        return find_instance(self.instances, name)

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
