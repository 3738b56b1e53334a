"""The IPv6 move is one unit (issue 17, item 9): an assign that fails after the release
returns the address to the ENI it was released from, and a newer transition stops the move
only before the release. Against a fake EC2 that records every call."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from awsfailover.core.deadline import Deadline
from awsfailover.core.model import MoveIpv6
from awsfailover.errors import PermanentError, Superseded
from awsfailover.failover.calls import Calls
from awsfailover.failover.moves import Moves

VIP6 = "2001:db8::100"


class FakeEc2:
    def __init__(self, refuse_assign_to: str | None = None) -> None:
        self.held = {"eni-a": {VIP6}, "eni-b": set()}
        self.calls: list[tuple[str, str]] = []
        self.refuse_assign_to = refuse_assign_to

    def unassign_ipv6(self, eni: str, ips: list[str], deadline: Deadline) -> None:
        self.calls.append(("unassign", eni))
        self.held[eni] -= set(ips)

    def assign_ipv6(self, eni: str, ips: list[str], deadline: Deadline) -> None:
        self.calls.append(("assign", eni))
        if eni == self.refuse_assign_to:
            raise PermanentError("AssignIpv6Addresses", "UnauthorizedOperation", "no", eni)
        if any(set(ips) & h for e, h in self.held.items() if e != eni):
            raise PermanentError("AssignIpv6Addresses", "InvalidIPAddress.InUse", "in use", eni)
        self.held[eni] |= set(ips)

    def find_holders(self, ips: list[str], deadline: Deadline) -> list[object]:
        return [
            SimpleNamespace(eni_id=e, ipv6s=tuple(held))
            for e, held in self.held.items()
            if held & set(ips)
        ]

    def describe_enis(self, ids: list[str], deadline: Deadline) -> dict[str, object]:
        return {e: SimpleNamespace(ipv6s=tuple(self.held[e])) for e in ids}


ACTION = MoveIpv6("eni-b", (VIP6,), (("eni-a", (VIP6,)),))


def test_an_assign_refused_after_the_release_gives_the_address_back() -> None:
    ec2 = FakeEc2(refuse_assign_to="eni-b")
    moves = Moves(ec2, Calls(2))  # type: ignore[arg-type]
    with pytest.raises(PermanentError):
        moves._run(ACTION, Deadline(5), lambda: None)
    assert ec2.held == {"eni-a": {VIP6}, "eni-b": set()}
    assert ec2.calls == [("unassign", "eni-a"), ("assign", "eni-b"), ("assign", "eni-a")]


def test_a_newer_transition_after_the_release_does_not_stop_the_assign() -> None:
    ec2 = FakeEc2()
    released = []

    def guard() -> None:
        if ec2.calls:  # superseded as soon as the release went out
            released.append(True)
            raise Superseded("newer")

    with pytest.raises(Superseded):  # reported once the unit is done
        Moves(ec2, Calls(2))._run(ACTION, Deadline(5), guard)  # type: ignore[arg-type]
    assert ec2.held == {"eni-a": set(), "eni-b": {VIP6}}


def test_a_newer_transition_before_the_release_stops_the_move() -> None:
    ec2 = FakeEc2()

    def guard() -> None:
        raise Superseded("newer")

    with pytest.raises(Superseded):
        Moves(ec2, Calls(2))._run(ACTION, Deadline(5), guard)  # type: ignore[arg-type]
    assert ec2.calls == []


def test_an_address_a_newer_master_took_meanwhile_is_not_taken_back() -> None:
    ec2 = FakeEc2(refuse_assign_to="eni-b")
    real_unassign = ec2.unassign_ipv6

    def unassign_then_c_takes_it(eni: str, ips: list[str], deadline: Deadline) -> None:
        real_unassign(eni, ips, deadline)
        ec2.held["eni-c"] = set(ips)  # the newer master's assign lands first

    ec2.unassign_ipv6 = unassign_then_c_takes_it  # type: ignore[method-assign]
    with pytest.raises(PermanentError):
        Moves(ec2, Calls(2))._run(ACTION, Deadline(5), lambda: None)  # type: ignore[arg-type]
    assert ec2.held == {"eni-a": set(), "eni-b": set(), "eni-c": {VIP6}}
    assert ("assign", "eni-a") not in ec2.calls


def test_a_release_still_in_flight_is_waited_for_then_given_back() -> None:
    """EC2's unassign is asynchronous: right after it the old holder still lists the address.
    Giving it back must wait for the release to land, not take 'still listed' for 'kept'."""
    ec2 = FakeEc2(refuse_assign_to="eni-b")
    lingering = {"n": 2}  # the holder still lists it for the first two looks
    real_find = ec2.find_holders

    def find(ips: list[str], deadline: Deadline) -> list[object]:
        if lingering["n"] > 0:
            lingering["n"] -= 1
            return [SimpleNamespace(eni_id="eni-a", ipv6s=(VIP6,))]
        return real_find(ips, deadline)

    ec2.find_holders = find  # type: ignore[method-assign]
    with pytest.raises(PermanentError):
        Moves(ec2, Calls(2))._run(ACTION, Deadline(5), lambda: None)  # type: ignore[arg-type]
    assert ec2.held["eni-a"] == {VIP6}
    assert ec2.calls[-1] == ("assign", "eni-a")


def test_planned_as_free_but_assigned_meanwhile_is_taken_over_as_one_unit() -> None:
    """The plan saw the address on no ENI (between another node's release and its assign);
    that assign landed first. The move takes it from there instead of failing."""
    ec2 = FakeEc2()
    ec2.held = {"eni-a": set(), "eni-b": set(), "eni-c": {VIP6}}
    free = MoveIpv6("eni-b", (VIP6,), ())
    guards = []
    Moves(ec2, Calls(2))._run(free, Deadline(5), lambda: guards.append(1))  # type: ignore[arg-type]
    assert ec2.held == {"eni-a": set(), "eni-b": {VIP6}, "eni-c": set()}
    assert ("unassign", "eni-c") in ec2.calls
    assert len(guards) >= 2  # checked again before the new release
