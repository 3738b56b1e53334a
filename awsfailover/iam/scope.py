"""The group's IAM scope: which ENIs, route tables and Elastic IPs the agent touches, from the
config (looking up route tables selected by subnet) and the command line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from awsfailover.config.schema import Settings
from awsfailover.core.deadline import Deadline
from awsfailover.core.plan import routes_in
from awsfailover.errors import ConfigError, PermanentError
from awsfailover.failover.engine import Engine, build_engine
from awsfailover.iam.policy import Scope

__all__ = ["PolicyArgs", "group_scope", "policy_scope", "table_routes"]


def table_routes(
    settings: Settings, engine: Engine | None
) -> tuple[dict[str, list[str]], list[str]]:
    """Route table -> the configured destinations in it, and the problems met. Tables named
    in the config need no AWS call; tables selected by subnet are found by the engine's own
    rule (engine None: not looked up, reported as a problem)."""
    out: dict[str, list[str]] = {}
    problems = []
    deadline = Deadline(settings.failover.deadline)
    for inst in settings.instances:
        if not inst.routes:
            continue
        if inst.route_tables is not None and (engine is None or not inst.auto_routes):
            # named tables: no AWS call (routes = "auto" without AWS: the tables alone)
            for t in inst.route_tables:
                have = out.setdefault(t, [])
                have.extend(d for d in inst.explicit_routes if d not in have)
            continue
        if engine is None:
            problems.append(f"instance {inst.name} selects its route tables by subnet")
            continue
        try:
            observed = engine.observe(inst.spec, deadline)
        except (PermanentError, ConfigError) as err:
            problems.append(f"instance {inst.name}: cannot discover its route tables: {err}")
            continue
        for t, table in observed.tables.items():
            have = out.setdefault(t, [])
            have.extend(
                d
                for d in routes_in(inst.spec, table, observed)
                if d in table.routes and d not in have
            )
    return out, problems


def group_scope(
    settings: Settings,
    *,
    region: str,
    account: str,
    route_tables: Iterable[str],
    extra_enis: Iterable[str] = (),
    tag: tuple[str, str] | None = None,
    role: str | None = None,
) -> Scope:
    enis = {*settings.group.enis, *extra_enis}
    enis.update(e for e in (settings.node.eni_id, *(i.eni_id for i in settings.instances)) if e)
    try:
        return Scope(
            region=region,
            account=account,
            enis=tuple(sorted(enis)),
            route_tables=tuple(sorted(set(route_tables))),
            ipv4=any(i.ipv4_vips for i in settings.instances),
            ipv6=any(i.ipv6_vips for i in settings.instances),
            tag=tag if tag is not None else settings.group.tag,
            role=role,
            eips=tuple(sorted({e.allocation_id for i in settings.instances for e in i.eips})),
            sns_topic=settings.events.sns_topic_arn,
            event_bus=settings.events.eventbridge_bus,
            lease_table=settings.arbiter.table if settings.arbiter else None,
            lease_group=settings.group.name if settings.arbiter else None,
            lease_instances=tuple(i.name for i in settings.instances),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


@dataclass(frozen=True)
class PolicyArgs:
    enis: list[str]
    route_tables: list[str]
    account: str | None
    region: str | None
    tag: str | None
    role: str | None
    ipv6: bool
    eips: list[str] = field(default_factory=list)


def policy_scope(settings: Settings | None, args: PolicyArgs) -> Scope:
    """The scope from the config (when there is one) plus the command line."""
    tag = None
    if args.tag is not None:
        key, sep, value = args.tag.partition("=")
        if not sep or not key:
            raise ConfigError(f"--tag {args.tag!r} is not KEY=VALUE")
        tag = (key, value)
    if settings is None:
        if not args.region or not args.account:
            raise ConfigError("without a config file, --region and --account are required")
        try:
            return Scope(
                region=args.region,
                account=args.account,
                enis=tuple(sorted(set(args.enis))),
                route_tables=tuple(sorted(set(args.route_tables))),
                ipv4=bool(args.enis) or tag is not None,
                ipv6=args.ipv6,
                tag=tag,
                role=args.role,
                eips=tuple(sorted(set(args.eips))),
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    region = args.region or settings.region
    account = args.account or settings.group.account_id
    if not region:
        raise ConfigError("no Region: set region in the config or pass --region")
    if not account:
        raise ConfigError("no account id: set group.account_id in the config or pass --account")
    engine = None
    if any(i.routes and i.route_tables is None for i in settings.instances):
        try:
            engine = build_engine(settings)
        except ConfigError as exc:
            raise ConfigError(
                f"some instance selects its route tables by subnet and they cannot be looked "
                f"up ({exc}); pass them with --route-table"
            ) from exc
    try:
        tables, problems = table_routes(settings, engine)
    finally:
        if engine is not None:
            engine.close()
    if problems:
        raise ConfigError("; ".join(problems) + "; pass the tables with --route-table")
    scope = group_scope(
        settings,
        region=region,
        account=account,
        route_tables={*tables, *args.route_tables},
        extra_enis=args.enis,
        tag=tag,
        role=args.role,
    )
    if args.ipv6 and not scope.ipv6:
        scope = Scope(**{**scope.__dict__, "ipv6": True})
    if args.eips:
        try:
            scope = Scope(**{**scope.__dict__, "eips": tuple(sorted({*scope.eips, *args.eips}))})
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    return scope
