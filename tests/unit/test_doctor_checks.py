"""doctor's checks on hand-built facts: each judges what its probe found, and a denied probe
fails its own checks only."""

from __future__ import annotations

from typing import Any

from awsfailover.config.schema import Settings
from awsfailover.core.model import AddressLimit
from awsfailover.doctor.facts import FAIL, PASS, Facts
from awsfailover.doctor.judge import CHECKS, judge

A, B = "eni-0aaaaaaaaaaaaaaaa", "eni-0bbbbbbbbbbbbbbbb"
SUBNET = "subnet-0123456789abcdef0"


def settings(**inst: Any) -> Settings:
    return Settings(
        region="eu-north-1",
        node={"eni_id": B},
        group={"enis": [A, B]},
        instances=[{"name": "VI_1", "vips": ["10.0.1.100"], **inst}],
    )


def eni(eni_id: str, *, subnet: str = SUBNET, sdc: bool = False, addrs: int = 1) -> dict[str, Any]:
    return {
        "NetworkInterfaceId": eni_id,
        "SubnetId": subnet,
        "SourceDestCheck": sdc,
        "PrivateIpAddress": "10.0.1.10",
        "PrivateIpAddresses": [{"PrivateIpAddress": f"10.0.1.{10 + i}"} for i in range(addrs)],
        "Groups": [],
    }


def facts(**over: Any) -> Facts:
    base: dict[str, Any] = {
        "own_eni": B,
        "enis": {A: eni(A), B: eni(B)},
        "subnets": {SUBNET: {"SubnetId": SUBNET, "CidrBlock": "10.0.1.0/24"}},
        "tables": {},
        "table_errors": {},
        "security_groups": {},
        "reservations": {SUBNET: ["10.0.1.96/28"]},
        "ip_limits": {A: AddressLimit("t3.micro", 2, 2), B: AddressLimit("t3.micro", 2, 2)},
        "imds": None,
        "imds_needed": False,
        "agent_health": "",
    }
    base.update(over)
    return Facts(**base)


def lines_of(check: str, s: Settings, f: Facts) -> list[tuple[str, str]]:
    return [(line.status, line.message) for line in judge(s, f) if line.check == check]


def test_enis_in_different_subnets_fail_with_vips() -> None:
    other = "subnet-0fedcba9876543210"
    subnets = {
        SUBNET: {"SubnetId": SUBNET, "CidrBlock": "10.0.1.0/24"},
        other: {"SubnetId": other, "CidrBlock": "10.0.2.0/24"},
    }
    f = facts(enis={A: eni(A, subnet=other), B: eni(B)}, subnets=subnets)
    (status, msg), *_ = lines_of("enis", settings(), f)
    assert status == FAIL and "different subnets" in msg and other in msg


def test_room_counts_the_vip_against_the_type_limit() -> None:
    assert {s for s, _ in lines_of("ip-room", settings(), facts())} == {PASS}
    full = facts(enis={A: eni(A, addrs=2), B: eni(B)})
    bad = [m for s, m in lines_of("ip-room", settings(), full) if s == FAIL]
    assert len(bad) == 1 and A in bad[0] and "would need 3 IPv4" in bad[0]


def test_a_vip_outside_any_reservation_fails_with_the_command_to_fix_it() -> None:
    f = facts(reservations={SUBNET: ["10.0.1.200/29"]})
    (line,) = [x for x in judge(settings(), f) if x.check == "reservation"]
    assert line.status == FAIL and "--cidr 10.0.1.100/32" in line.fix


def test_source_dest_check_matters_only_with_routes() -> None:
    f = facts(enis={A: eni(A, sdc=True), B: eni(B)})
    assert lines_of("source-dest-check", settings(), f) == []
    routed = settings(routes=["192.168.50.0/24"])
    got = {m.split()[0]: s for s, m in lines_of("source-dest-check", routed, f)}
    assert got == {A: FAIL, B: PASS}


def test_a_denied_probe_fails_its_checks_only() -> None:
    f = facts(failed_probes={"reservations": "GetSubnetCidrReservations: UnauthorizedOperation"})
    lines = judge(settings(), f)
    (denied,) = [x for x in lines if x.check == "reservation"]
    assert denied.status == FAIL and "cannot look" in denied.message
    assert "ec2:GetSubnetCidrReservations" in denied.fix
    assert {x.status for x in lines if x.check == "ip-room"} == {PASS}


def test_every_probe_a_check_needs_names_its_actions() -> None:
    from awsfailover.doctor.judge import PROBE_ACTIONS

    needed = {p for _name, _check, probes in CHECKS for p in probes}
    assert needed <= set(PROBE_ACTIONS)
