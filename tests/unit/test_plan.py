"""The pure planner: exhaustive cases, no I/O."""

from __future__ import annotations

import pytest

from awsfailover.config.schema import InstanceSettings
from awsfailover.core.model import (
    AssignPrivateIps,
    Eni,
    MoveIpv6,
    Observed,
    ReplaceRoute,
    RouteState,
    RouteTable,
    Subnet,
)
from awsfailover.core.plan import converged_on, plan
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import ConfigError

A, B, C = "eni-aaaaaaaa", "eni-bbbbbbbb", "eni-cccccccc"
SUBNET = Subnet("subnet-11111111", "vpc-1", "10.0.1.0/24", ("2001:db8:1::/64",))


def eni(
    eni_id: str,
    ips: tuple[str, ...] = (),
    v6: tuple[str, ...] = (),
    subnet: str = SUBNET.subnet_id,
    primary: str = "10.0.1.5",
) -> Eni:
    return Eni(eni_id, subnet, "vpc-1", primary, (primary, *ips), v6)


def table(tid: str, target: str | None, dests: tuple[str, ...]) -> RouteTable:
    return RouteTable(
        tid, "vpc-1", {d: RouteState(d, target, target or "igw-1") for d in dests}, ()
    )


INST = InstanceSpec(
    name="VI_1",
    vips=("10.0.1.100", "2001:db8:1::100"),
    routes=("192.168.50.0/24", "pl-0123456789abcdef0"),
)
DESTS = ("192.168.50.0/24", "pl-0123456789abcdef0")


def observed(local: Eni, holders: dict[str, Eni], tables: dict[str, RouteTable]) -> Observed:
    return Observed(local=local, subnet=SUBNET, holders=holders, tables=tables)


def test_full_move_from_a_to_b():
    a = eni(A, ("10.0.1.100",), ("2001:db8:1::100",), primary="10.0.1.10")
    b = eni(B, primary="10.0.1.11")
    obs = observed(
        b,
        {"10.0.1.100": a, "2001:db8:1::100": a},
        {"rtb-1": table("rtb-1", A, DESTS), "rtb-2": table("rtb-2", A, DESTS)},
    )
    p = plan(INST, obs)
    assert p.actions[0] == AssignPrivateIps(B, ("10.0.1.100",), (("10.0.1.100", A),))
    assert p.actions[1] == MoveIpv6(B, ("2001:db8:1::100",), ((A, ("2001:db8:1::100",)),))
    routes = [x for x in p.actions if isinstance(x, ReplaceRoute)]
    assert [(r.table_id, r.destination) for r in routes] == [
        ("rtb-1", DESTS[0]),
        ("rtb-1", DESTS[1]),
        ("rtb-2", DESTS[0]),
        ("rtb-2", DESTS[1]),
    ]
    assert converged_on(INST, obs) == A


def test_converged_plan_is_empty():
    b = eni(B, ("10.0.1.100",), ("2001:db8:1::100",))
    obs = observed(b, {"10.0.1.100": b, "2001:db8:1::100": b}, {"rtb-1": table("rtb-1", B, DESTS)})
    assert plan(INST, obs).converged
    assert converged_on(INST, obs) == B


def test_unheld_vips_are_assigned_without_unassign():
    b = eni(B)
    obs = observed(b, {}, {"rtb-1": table("rtb-1", B, DESTS)})
    p = plan(INST, obs)
    assert p.actions == (
        AssignPrivateIps(B, ("10.0.1.100",), (("10.0.1.100", None),)),
        MoveIpv6(B, ("2001:db8:1::100",), ()),
    )
    assert converged_on(INST, obs) is None  # split: VIPs nowhere, routes on B


def test_route_pointing_elsewhere_or_blackhole_is_replaced():
    b = eni(B, ("10.0.1.100",), ("2001:db8:1::100",))
    t = RouteTable(
        "rtb-1",
        "vpc-1",
        {
            DESTS[0]: RouteState(DESTS[0], None, "blackhole(eni-gone)"),
            DESTS[1]: RouteState(DESTS[1], None, "tgw-1"),
        },
        (),
    )
    p = plan(INST, observed(b, {"10.0.1.100": b, "2001:db8:1::100": b}, {"rtb-1": t}))
    assert [a.previous for a in p.actions if isinstance(a, ReplaceRoute)] == [
        "blackhole(eni-gone)",
        "tgw-1",
    ]


@pytest.mark.parametrize(
    "vip, msg", [("10.0.2.1", "outside subnet"), ("2001:db8:2::1", "outside subnet")]
)
def test_vip_outside_subnet(vip, msg):
    inst = InstanceSpec(name="VI_1", vips=(vip,))
    with pytest.raises(ConfigError, match=msg):
        plan(inst, observed(eni(B), {}, {}))


def test_vip_held_in_other_subnet_or_as_primary():
    inst = InstanceSpec(name="VI_1", vips=("10.0.1.100",))
    c = eni(C, ("10.0.1.100",), subnet="subnet-22222222")
    with pytest.raises(ConfigError, match="cannot move across subnets"):
        plan(inst, observed(eni(B), {"10.0.1.100": c}, {}))
    a = eni(A, primary="10.0.1.100")
    with pytest.raises(ConfigError, match="primary address"):
        plan(inst, observed(eni(B), {"10.0.1.100": a}, {}))


def test_missing_route_and_no_table():
    with pytest.raises(ConfigError, match="pl-0123456789abcdef0 is not a route in rtb-1"):
        plan(INST, observed(eni(B), {}, {"rtb-1": table("rtb-1", A, DESTS[:1])}))
    with pytest.raises(ConfigError, match="no route table"):
        plan(INST, observed(eni(B), {}, {}))


@pytest.mark.parametrize(
    "field, value",
    [
        ("vips", ["10.0.1.300"]),
        ("routes", ["10.0.0.1/16"]),
        ("routes", ["pl-xyz"]),
        ("route_tables", ["rtb-nope"]),
        ("subnet_ids", ["sub-1"]),
        ("name", "bad name"),
    ],
)
def test_instance_validation(field, value):
    doc = {"name": "VI_1", "vips": ["10.0.1.100"], field: value}
    with pytest.raises(ValueError):
        InstanceSettings(**doc)


def test_ipv6_canonical_form():
    inst = InstanceSettings(name="x", vips=["2001:DB8:1:0::0100"], routes=["2001:db8:ff:0::/64"])
    assert inst.vips == ["2001:db8:1::100"] and inst.routes == ["2001:db8:ff::/64"]
