"""doctor's probes: every fact the checks judge, gathered with Describe calls only (through
the aws gateway), one instance-metadata session and one question to the agent on its hand-off
socket. A probe that is denied records why instead of stopping doctor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from awsfailover import defaults
from awsfailover.aws.ec2 import Ec2
from awsfailover.aws.node import NodeFacts
from awsfailover.config.schema import Settings
from awsfailover.core.deadline import Deadline
from awsfailover.core.model import RouteTable
from awsfailover.core.tables import select_tables
from awsfailover.doctor.facts import Facts
from awsfailover.errors import AwsError, AwsFailoverError, ConfigError

__all__ = ["gather"]

T = TypeVar("T")


def _imds_probe(node: NodeFacts) -> str | None:
    try:
        imds = node.metadata()
        imds.token()
        imds.region()
    except AwsFailoverError as exc:
        return str(exc)
    return None


def _agent_probe(settings: Settings, expect: bool) -> str | None:
    """The agent's health as keepalived's check asks for it: on the hand-off socket."""
    from awsfailover.keepalived import handoff

    path = settings.agent.socket
    # An agent that ran leaves its socket; a hook-only node has none.
    if not expect and not path.exists():
        return ""
    why = handoff.untrusted(path)
    if why is not None:
        return f"socket {path}: {why}"
    reply = handoff.ask(path, handoff.HEALTH, 2.0)
    if reply is None:
        return f"socket {path}: no answer"
    return None if reply.startswith("OK") else f"socket {path}: {reply}"


def _events_probe(settings: Settings, node: NodeFacts) -> dict[str, str | None]:
    """The [events] targets: None for one that exists, else why not (missing, denied)."""
    from awsfailover.aws import event_targets

    ev, out = settings.events, {}
    if ev.sns_topic_arn:
        out["sns"] = event_targets.topic_problem(ev.sns_topic_arn)
    if ev.eventbridge_bus:
        out["eventbridge"] = event_targets.bus_problem(ev.eventbridge_bus, node.region())
    return out


def _arbiter_probe(settings: Settings, node: NodeFacts) -> list[str] | None:
    """The [arbiter] table's problems (DescribeTable), None without [arbiter]."""
    if settings.arbiter is None:
        return None
    from awsfailover.aws.lease_table import table_problems

    return table_problems(settings.arbiter.table, node.region())


def gather(
    settings: Settings,
    node: NodeFacts,
    ec2: Ec2,
    own_eni: str,
    *,
    expect_agent: bool,
    imds_needed: bool,
    resolved: dict[str, str] | None = None,
) -> Facts:
    deadline = Deadline(defaults.DOCTOR_DEADLINE)
    instance_enis = {
        i.name: i.eni_id for i in settings.instances if i.eni_id
    }  # interface-named ENIs are resolved by run()
    instance_enis.update(resolved or {})
    ids = sorted({*settings.group.enis, own_eni, *instance_enis.values()})
    found: dict[str, Any] = {}
    missing = []
    for eni in ids:  # one by one: a missing ENI must not hide the others
        entry = ec2.eni_entry(eni, deadline)
        if entry is None:
            missing.append(eni)
        else:
            found[eni] = entry
    if own_eni not in found:
        raise ConfigError(f"this node's ENI {own_eni} does not exist")
    failed: dict[str, str] = {}

    def probe(name: str, default: dict[str, T], fn: Callable[[], dict[str, T]]) -> dict[str, T]:
        """One probe's facts, or its default with the reason recorded: a denied Describe
        fails the checks that need it, not the whole doctor."""
        try:
            return fn()
        except AwsError as err:
            failed[name] = str(err)
            return default

    subnet_ids = sorted({e["SubnetId"] for e in found.values()})
    subnets = probe("subnets", {}, lambda: ec2.subnet_entries(subnet_ids, deadline))
    own_subnet = found[own_eni]["SubnetId"]
    tables: dict[str, dict[str, RouteTable]] = {}
    table_errors: dict[str, str] = {}
    for inst in settings.specs:
        if not inst.routes:
            continue
        try:
            if inst.route_tables is not None:
                listing = ec2.describe_route_tables(deadline, table_ids=list(inst.route_tables))
            else:
                listing = ec2.describe_route_tables(
                    deadline, subnet_ids=list(inst.subnet_ids or [own_subnet])
                )
            tables[inst.name] = select_tables(inst, listing, own_subnet)
        except ConfigError as err:
            table_errors[inst.name] = f"{inst.name}: {err}"
        except AwsError as err:
            failed["route_tables"] = str(err)
    group_ids = sorted({g["GroupId"] for e in found.values() for g in e.get("Groups", [])})
    sgs: dict[str, Any] = {}
    if group_ids:
        sgs = probe("security_groups", {}, lambda: ec2.security_group_entries(group_ids, deadline))
    reservations = probe(
        "reservations",
        {},
        lambda: {s: ec2.explicit_reservations(s, deadline) for s in subnet_ids},
    )
    allocs = sorted({e.allocation_id for i in settings.instances for e in i.eips})
    # by filter: a missing one is left out (its own FAIL line), not the whole probe
    addrs = (
        probe("addresses", {}, lambda: ec2.describe_addresses(allocs, deadline, missing_ok=True))
        if allocs
        else {}
    )
    attached = {
        eni: raw["Attachment"]["InstanceId"]
        for eni, raw in found.items()
        if raw.get("Attachment", {}).get("InstanceId")
    }
    return Facts(
        own_eni=own_eni,
        enis=found,
        subnets=subnets,
        tables=tables,
        table_errors=table_errors,
        security_groups=sgs,
        reservations=reservations,
        ip_limits=probe("instances", {}, lambda: ec2.address_limits(attached, deadline)),
        imds=_imds_probe(node),
        imds_needed=imds_needed,
        agent_health=_agent_probe(settings, expect_agent),
        missing_enis=missing,
        failed_probes=failed,
        instance_enis=instance_enis,
        addresses=addrs,
        event_targets=_events_probe(settings, node),
        arbiter_table=_arbiter_probe(settings, node),
    )
