"""The registry of doctor's checks, each tied to the probes it needs: a probe that could not
look (a denied action) fails its own checks with the fix, and no others."""

from __future__ import annotations

from collections.abc import Callable

from awsfailover.aws.actions import probe_actions
from awsfailover.config.schema import Settings
from awsfailover.doctor.checks import (
    check_eips,
    check_enis_share_subnet,
    check_source_dest,
    check_vips_in_subnet,
)
from awsfailover.doctor.facts import FAIL, Facts, Line
from awsfailover.doctor.node_checks import (
    check_agent,
    check_arbiter,
    check_events,
    check_imds,
    check_ip_room,
    check_reservations,
    check_vrrp_rules,
)
from awsfailover.doctor.table_checks import check_route_tables

__all__ = ["CHECKS", "PROBE_ACTIONS", "judge"]

# (check, the probes it judges): a probe that failed fails its checks, and only those.
CHECKS: list[tuple[str, Callable[[Settings, Facts], list[Line]], tuple[str, ...]]] = [
    ("enis", check_enis_share_subnet, ()),
    ("vip-subnet", check_vips_in_subnet, ("subnets",)),
    ("source-dest-check", check_source_dest, ()),
    ("route-tables", check_route_tables, ("route_tables",)),
    ("vrrp", check_vrrp_rules, ("security_groups",)),
    ("reservation", check_reservations, ("subnets", "reservations")),
    ("ip-room", check_ip_room, ("instances",)),
    ("eip", check_eips, ("subnets", "addresses")),
    ("imds", check_imds, ()),
    ("agent", check_agent, ()),
    ("events", check_events, ()),
    ("arbiter", check_arbiter, ()),
]
# What each probe calls: the fix for a denied probe is the statement iam-policy prints.
PROBE_ACTIONS = probe_actions()


def judge(settings: Settings, f: Facts) -> list[Line]:
    lines = []
    for name, check, probes in CHECKS:
        failed = [p for p in probes if p in f.failed_probes]
        if failed:
            lines += [
                Line(
                    FAIL,
                    name,
                    f"cannot look: {f.failed_probes[p]}",
                    f"allow {PROBE_ACTIONS[p]} (`awsfailover iam-policy` includes it)",
                )
                for p in failed
            ]
            continue
        lines += check(settings, f)
    return lines
