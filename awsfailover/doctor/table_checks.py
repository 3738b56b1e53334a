"""doctor's checks of the route tables each instance selects: associated, holding the
instance's routes, no blackhole among them, and none the group does not own. Pure.

Why the last one: EC2 authorises ReplaceRoute on the route table alone, so the role can point
any route of its tables at any target in the VPC (no condition key narrows it). A table
shared with routes of other systems widens what a stolen role can redirect: dedicated tables
keep the blast radius to the group's own routes."""

from __future__ import annotations

from awsfailover.config.schema import InstanceSettings, Settings
from awsfailover.core.model import RouteTable
from awsfailover.doctor.facts import FAIL, PASS, WARN, Facts, Line

__all__ = ["check_route_tables"]

SHOWN = 3  # foreign routes named in a line; the rest are counted


def owned(settings: Settings, table: RouteTable) -> set[str]:
    """The destinations of table this group moves: every instance's explicit routes, and with
    routes = "auto" every route aimed at a group ENI."""
    out = {d for i in settings.instances for d in i.explicit_routes}
    if any(i.auto_routes for i in settings.instances):
        group = set(settings.group.enis)
        out |= {d for d, r in table.routes.items() if r.eni_id in group}
    return out


def check_route_tables(settings: Settings, f: Facts) -> list[Line]:
    out: list[Line] = []
    warned: set[str] = set()  # tables already judged for foreign routes
    for inst in settings.instances:
        if not inst.routes:
            continue
        if inst.name in f.table_errors:
            out.append(Line(FAIL, "route-tables", f.table_errors[inst.name], _table_fix(inst)))
            continue
        for tid, table in sorted(f.tables.get(inst.name, {}).items()):
            line = _judge_table(inst, tid, table, f)
            out.append(line)
            if line.status == FAIL:
                continue
            out += _blackholes(inst, tid, table, owned(settings, table))
            if tid not in warned:
                warned.add(tid)
                out += _foreign(inst, tid, table, owned(settings, table))
    return out


def _judge_table(inst: InstanceSettings, tid: str, table: RouteTable, f: Facts) -> Line:
    if not table.explicit_subnets:
        return Line(
            FAIL,
            "route-tables",
            f"{inst.name}: {tid} is not explicitly associated with any subnet, "
            "so no traffic follows its routes",
            f"aws ec2 associate-route-table --route-table-id {tid} --subnet-id SUBNET",
        )
    missing = [d for d in inst.explicit_routes if d not in table.routes]
    if missing:
        return Line(
            FAIL,
            "route-tables",
            f"{inst.name}: {tid} has no route for {', '.join(missing)} "
            "(ReplaceRoute only replaces existing routes)",
            f"aws ec2 create-route --route-table-id {tid} "
            f"--destination-cidr-block {missing[0]} "
            f"--network-interface-id {f.own_eni}",
        )
    what = (
        "routes are selected by target (auto)"
        if inst.auto_routes
        else f"holds all {len(inst.explicit_routes)} routes"
    )
    return Line(
        PASS,
        "route-tables",
        f"{inst.name}: {tid} (associated with {', '.join(table.explicit_subnets)}) {what}",
    )


def _blackholes(inst: InstanceSettings, tid: str, table: RouteTable, mine: set[str]) -> list[Line]:
    dead = sorted(
        d for d, r in table.routes.items() if d in mine and r.target.startswith("blackhole")
    )
    return [
        Line(
            WARN,
            "route-tables",
            f"{inst.name}: {tid} route {d} is a {table.routes[d].target}: its target is gone "
            "and traffic to it is dropped until a takeover re-points it",
            f"awsfailover takeover {inst.name} on the node keepalived has MASTER",
        )
        for d in dead
    ]


def _foreign(inst: InstanceSettings, tid: str, table: RouteTable, mine: set[str]) -> list[Line]:
    foreign = sorted(
        f"{d} -> {r.target}"
        for d, r in table.routes.items()
        if d not in mine and not r.propagated and r.target != "local"
    )
    if not foreign:
        return []
    more = f" and {len(foreign) - SHOWN} more" if len(foreign) > SHOWN else ""
    return [
        Line(
            WARN,
            "route-tables",
            f"{inst.name}: {tid} also holds {len(foreign)} route(s) this group does not own "
            f"({', '.join(foreign[:SHOWN])}{more}): ReplaceRoute is authorised per table, so "
            "the role could re-point them too",
            "give the group dedicated route tables (README: what IAM cannot narrow)",
        )
    ]


def _table_fix(inst: InstanceSettings) -> str:
    if inst.route_tables is not None:
        return f"fix instances.{inst.name}.route_tables"
    return "associate a route table explicitly with the subnet (aws ec2 associate-route-table)"
