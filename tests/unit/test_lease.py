"""The arbiter's lease on a hand-driven clock and an in-memory table as strict as DynamoDB's
conditional writes: takeover, renewal, expiry, lost answers, and clocks that disagree."""

from __future__ import annotations

from dataclasses import replace

import pytest

from awsfailover.core.deadline import Deadline
from awsfailover.core.lease import FREE, Lease, LeaseRecord
from awsfailover.errors import (
    CONDITION_FAILED,
    LeaseLost,
    LeaseRefused,
    PermanentError,
    Superseded,
    TransientError,
)
from awsfailover.failover.arbiter import Arbiter

TTL = 3.0


class Clock:
    """One node's monotonic clock: `rate` seconds of its own per second of the test's."""

    def __init__(self, world: list[float], rate: float = 1.0, offset: float = 0.0) -> None:
        self.world, self.rate, self.offset = world, rate, offset

    def __call__(self) -> float:
        return self.offset + self.world[0] * self.rate


class Table:
    """DynamoDB's conditional writes on one dict. `lose` drops the answer of the next write
    after applying it; `down` answers nothing at all."""

    def __init__(self) -> None:
        self.items: dict[str, LeaseRecord] = {}
        self.lose = 0
        self.down = False
        self.writes = 0

    def _fail(self, op: str, applied: bool) -> None:
        if self.down:
            raise TransientError(op, "EndpointConnectionError", "refused")
        if applied and self.lose:
            self.lose -= 1
            raise TransientError(op, "ReadTimeoutError", "answer lost")

    def _refuse(self, op: str) -> PermanentError:
        return PermanentError(op, CONDITION_FAILED, "The conditional request failed")

    def read(self, lease_id: str, timeout: float) -> LeaseRecord | None:
        if timeout <= 0.0:  # as aws.lease_table.bounded: no time, no answer
            raise TransientError("GetItem", "Timeout", f"no answer within {timeout:.2f}s")
        self._fail("GetItem", applied=False)
        return self.items.get(lease_id)

    def create(self, lease_id: str, holder: str, timeout: float) -> LeaseRecord:
        self._fail("PutItem", applied=False)
        if lease_id in self.items:
            raise self._refuse("PutItem")
        rec = self.items[lease_id] = LeaseRecord(holder, 1, 1)
        self.writes += 1
        self._fail("PutItem", applied=True)
        return rec

    def claim(self, lease_id: str, holder: str, seen: LeaseRecord, timeout: float) -> LeaseRecord:
        self._fail("UpdateItem", applied=False)
        cur = self.items.get(lease_id)
        if cur is None or (cur.holder, cur.counter) != (seen.holder, seen.counter):
            raise self._refuse("UpdateItem")
        rec = self.items[lease_id] = LeaseRecord(holder, seen.counter + 1, seen.token + 1)
        self.writes += 1
        self._fail("UpdateItem", applied=True)
        return rec

    def renew(self, lease_id: str, holder: str, token: int, timeout: float) -> LeaseRecord:
        self._fail("UpdateItem", applied=False)
        cur = self.items.get(lease_id)
        if cur is None or (cur.holder, cur.token) != (holder, token):
            raise self._refuse("UpdateItem")
        rec = self.items[lease_id] = replace(cur, counter=cur.counter + 1)
        self.writes += 1
        self._fail("UpdateItem", applied=True)
        return rec

    def release(self, lease_id: str, holder: str, token: int, timeout: float) -> None:
        self._fail("UpdateItem", applied=False)
        cur = self.items.get(lease_id)
        if cur is None or (cur.holder, cur.token) != (holder, token):
            raise self._refuse("UpdateItem")
        self.items[lease_id] = LeaseRecord(FREE, cur.counter + 1, cur.token)
        self.writes += 1


@pytest.fixture
def now() -> list[float]:
    return [100.0]


def node(table: Table, me: str, clock: Clock) -> Lease:
    return Lease(table, "g/VI_1", me, TTL, clock)


def test_the_first_master_creates_the_lease_and_renews_it(now: list[float]) -> None:
    t = Table()
    a = node(t, "eni-a", Clock(now))
    assert a.free_in() is None  # never looked: nothing is known
    assert a.look(1.0) is None
    assert a.free_in() == 0.0  # no item: take at once
    rec = a.take(1.0)
    assert rec == LeaseRecord("eni-a", 1, 1) and a.holds() and a.token == 1
    now[0] += 2.0
    assert a.renew(1.0).counter == 2 and a.token == 1  # a renewal keeps the token
    now[0] += TTL - 0.01
    assert a.holds()  # ttl after the last renewal was sent
    now[0] += 0.02
    assert not a.holds()  # no renewal for a ttl: stop acting


def test_a_live_holders_lease_is_never_taken(now: list[float]) -> None:
    t = Table()
    a, b = node(t, "eni-a", Clock(now)), node(t, "eni-b", Clock(now))
    a.look(1.0)
    a.take(1.0)
    b.look(1.0)
    for _ in range(30):  # 30 s of renewals every ttl/3, b looking every ttl/6
        for _ in range(2):
            now[0] += TTL / 6
            b.look(1.0)
            assert b.free_in() > 0  # counter keeps changing: never stale
        a.renew(1.0)
    assert t.items["g/VI_1"].holder == "eni-a"


def test_a_dead_holders_lease_is_taken_after_a_ttl_on_the_takers_clock(
    now: list[float],
) -> None:
    t = Table()
    a, b = node(t, "eni-a", Clock(now)), node(t, "eni-b", Clock(now, offset=-5000.0))
    a.look(1.0)
    a.take(1.0)  # a dies right after this
    b.look(1.0)
    assert b.free_in() == pytest.approx(TTL)  # b's own clock, whatever it reads
    now[0] += TTL - 0.1
    b.look(1.0)
    assert b.free_in() == pytest.approx(0.1)
    now[0] += 0.1
    assert b.free_in() == 0.0
    rec = b.take(1.0)
    assert rec == LeaseRecord("eni-b", 2, 2)  # the fencing token moved on
    assert not a.holds()  # and a, had it lived on without renewing, stopped acting already


def test_a_renewal_after_a_takeover_is_refused_and_says_lost(now: list[float]) -> None:
    t = Table()
    a, b = node(t, "eni-a", Clock(now)), node(t, "eni-b", Clock(now))
    a.look(1.0)
    a.take(1.0)
    b.look(1.0)
    now[0] += TTL  # a partitioned from the table for a ttl (its renewals failed)
    b.take(1.0)
    with pytest.raises(LeaseLost, match="lost to eni-b"):
        a.renew(1.0)
    assert a.held is None and not a.holds() and a.other_holder == "eni-b"


def test_a_released_lease_is_taken_at_once(now: list[float]) -> None:
    t = Table()
    a, b = node(t, "eni-a", Clock(now)), node(t, "eni-b", Clock(now))
    a.look(1.0)
    a.take(1.0)
    b.look(1.0)
    a.release(1.0)  # keepalived demoted a
    assert not a.holds()
    b.look(1.0)
    assert b.free_in() == 0.0
    assert b.take(1.0).token == 2


def test_two_takers_of_one_stale_lease_one_wins(now: list[float]) -> None:
    t = Table()
    a, b, c = (node(t, e, Clock(now)) for e in ("eni-a", "eni-b", "eni-c"))
    a.look(1.0)
    a.take(1.0)
    b.look(1.0)
    c.look(1.0)
    now[0] += TTL
    b.take(1.0)
    with pytest.raises(PermanentError) as refused:
        c.take(1.0)  # c saw the same stale lease, but b's write changed it
    assert refused.value.code == CONDITION_FAILED
    assert c.other_holder == "eni-b" and c.free_in() == pytest.approx(TTL)


def test_a_lost_answer_to_a_take_that_landed_is_ours(now: list[float]) -> None:
    t = Table()
    a, b = node(t, "eni-a", Clock(now)), node(t, "eni-b", Clock(now))
    a.look(1.0)
    a.take(1.0)
    b.look(1.0)
    now[0] += TTL
    t.lose = 1  # the claim is applied, its answer lost
    rec = b.take(1.0)  # the read after the lost answer finds b's own write
    assert rec.holder == "eni-b" and b.holds() and b.token == 2


def test_a_lost_answer_to_a_take_that_did_not_land_is_not_ours(now: list[float]) -> None:
    t = Table()
    b = node(t, "eni-b", Clock(now))
    b.look(1.0)
    t.down = True
    with pytest.raises(TransientError):
        b.take(1.0)
    assert not b.holds() and "g/VI_1" not in t.items


def test_a_lost_answer_to_a_renewal_and_the_next_renewal(now: list[float]) -> None:
    t = Table()
    a, b = node(t, "eni-a", Clock(now)), node(t, "eni-b", Clock(now))
    a.look(1.0)
    a.take(1.0)
    b.look(1.0)
    now[0] += 1.0
    t.lose = 1
    with pytest.raises(TransientError):
        a.renew(1.0)  # applied, but a cannot know it: it counts from its last known renewal
    now[0] += 1.0
    assert a.renew(1.0).counter == 3  # conditional on the token, not the counter
    b.look(1.0)
    assert b.free_in() == pytest.approx(TTL)  # the counter moved: b starts over


def test_a_taker_whose_clock_runs_fast_still_never_takes_a_live_lease(
    now: list[float],
) -> None:
    """Renewals every ttl/3 change the counter three times per ttl: a taker's clock would
    have to run more than three times fast to see a live lease unchanged for a ttl."""
    t = Table()
    a = node(t, "eni-a", Clock(now))
    fast = node(t, "eni-b", Clock(now, rate=2.5))
    a.look(1.0)
    a.take(1.0)
    fast.look(1.0)
    for _ in range(60):
        now[0] += TTL / 3
        assert fast.free_in() > 0
        a.renew(1.0)
        fast.look(1.0)
    assert t.items["g/VI_1"].holder == "eni-a"


def test_a_holder_whose_clock_runs_fast_stops_acting_before_anyone_may_take(
    now: list[float],
) -> None:
    t = Table()
    fast = node(t, "eni-a", Clock(now, rate=1.5))
    b = node(t, "eni-b", Clock(now))
    fast.look(1.0)
    fast.take(1.0)
    b.look(1.0)  # then the holder loses the table
    now[0] += TTL / 1.5  # a ttl on the fast clock: it stops acting
    assert not fast.holds()
    assert b.free_in() > 0  # while b may not take it yet


def test_acquire_waits_out_a_dead_holders_ttl_then_takes(now: list[float]) -> None:
    t = Table()
    a = node(t, "eni-a", Clock(now))
    a.look(1.0)
    a.take(1.0)
    arb = Arbiter(t, "g", TTL, "act", Clock(now))
    b = arb.lease("VI_1", "eni-b")

    def sleep(s: float) -> None:
        now[0] += s

    grant = arb.acquire(b, _deadline(10.0, now), lambda: None, sleep)
    assert grant.token == 2 and grant.waited == pytest.approx(TTL, abs=0.11)


def test_acquire_refuses_a_lease_another_node_keeps_renewing(now: list[float]) -> None:
    t = Table()
    a = node(t, "eni-a", Clock(now))
    a.look(1.0)
    a.take(1.0)
    arb = Arbiter(t, "g", TTL, "act", Clock(now))
    b = arb.lease("VI_1", "eni-b")

    def sleep(s: float) -> None:
        before = now[0]
        now[0] += s
        if int(before / (TTL / 3)) != int(now[0] / (TTL / 3)):
            a.renew(1.0)  # a lives: a renewal every ttl/3

    with pytest.raises(LeaseRefused, match="held by eni-a") as refused:
        arb.acquire(b, _deadline(5.0, now), lambda: None, sleep)
    assert refused.value.holder == "eni-a" and t.items["g/VI_1"].holder == "eni-a"


def test_acquire_stops_for_a_newer_transition(now: list[float]) -> None:
    t = Table()
    a = node(t, "eni-a", Clock(now))
    a.look(1.0)
    a.take(1.0)
    arb = Arbiter(t, "g", TTL, "act", Clock(now))
    calls = []

    def guard() -> None:
        calls.append(1)
        if len(calls) > 3:
            raise Superseded("newer")

    with pytest.raises(Superseded):
        arb.acquire(arb.lease("VI_1", "eni-b"), _deadline(10.0, now), guard, lambda s: None)


@pytest.mark.parametrize(("policy", "acts"), [("act", True), ("hold", False)])
def test_an_unreachable_table_is_the_policys(now: list[float], policy: str, acts: bool) -> None:
    t = Table()
    t.down = True
    arb = Arbiter(t, "g", TTL, policy, Clock(now))
    lease = arb.lease("VI_1", "eni-b")
    if acts:
        grant = arb.acquire(lease, _deadline(10.0, now), lambda: None, lambda s: None)
        assert grant.token is None and "refused" in (grant.unreachable or "")
        arb.guard(lease, grant)()  # acting without the lease: no per-call check
    else:
        with pytest.raises(LeaseRefused, match="on_unreachable = hold") as held:
            arb.acquire(lease, _deadline(10.0, now), lambda: None, lambda s: None)
        assert held.value.holder is None


@pytest.mark.parametrize(("policy", "stops"), [("act", False), ("hold", True)])
def test_renewals_failing_for_a_ttl_stop_a_holder_under_hold_only(
    now: list[float], policy: str, stops: bool
) -> None:
    t = Table()
    arb = Arbiter(t, "g", TTL, policy, Clock(now))
    lease = arb.lease("VI_1", "eni-a")
    grant = arb.acquire(lease, _deadline(10.0, now), lambda: None, lambda s: None)
    check = arb.guard(lease, grant)
    check()
    t.down = True
    now[0] += TTL
    if stops:
        with pytest.raises(LeaseLost, match="not renewed"):
            check()
    else:
        check()


def test_a_lease_lost_to_another_node_stops_a_holder_under_either_policy(
    now: list[float],
) -> None:
    t = Table()
    arb = Arbiter(t, "g", TTL, "act", Clock(now))
    lease = arb.lease("VI_1", "eni-a")
    grant = arb.acquire(lease, _deadline(10.0, now), lambda: None, lambda s: None)
    b = node(t, "eni-b", Clock(now))
    b.look(1.0)
    now[0] += TTL
    b.take(1.0)
    with pytest.raises(LeaseLost):
        lease.renew(1.0)
    with pytest.raises(LeaseLost, match="lost"):
        arb.guard(lease, grant)()


class _FakeDeadline(Deadline):
    def __init__(self, seconds: float, now: list[float]) -> None:
        self.now = now
        self.seconds = seconds
        self.started = now[0]
        self.end = now[0] + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self.now[0])

    def expired(self) -> bool:
        return self.now[0] >= self.end

    def elapsed(self) -> float:
        return self.now[0] - self.started


def _deadline(seconds: float, now: list[float]) -> Deadline:
    return _FakeDeadline(seconds, now)


def test_a_holder_taking_over_again_keeps_its_lease_and_token(now: list[float]) -> None:
    """A drift repair or settle look of the MASTER that holds the lease writes nothing: a
    new take would change the token under the keeper's next renewal."""
    t = Table()
    arb = Arbiter(t, "g", TTL, "act", Clock(now))
    lease = arb.lease("VI_1", "eni-a")
    first = arb.acquire(lease, _deadline(10.0, now), lambda: None, lambda s: None)
    writes = t.writes
    again = arb.acquire(lease, _deadline(10.0, now), lambda: None, lambda s: None)
    assert again.token == first.token == 1 and t.writes == writes


def test_a_renewal_overtaken_by_our_own_take_is_not_a_loss(now: list[float]) -> None:
    """The keeper renews with the token it read; a take of ours (after the lease went
    unrenewed past the ttl) has bumped it meanwhile: the lease is still ours."""
    t = Table()
    a = node(t, "eni-a", Clock(now))
    a.look(1.0)
    a.take(1.0)
    stale = a.held
    now[0] += TTL  # not renewed for a ttl: a takes it again
    a.look(1.0)
    a.take(1.0)
    assert a.token == 2
    a.held, newer = stale, a.held  # the keeper's renewal read the old token ...
    assert stale is not None and newer is not None

    def racing_renew(lease_id: str, holder: str, token: int, timeout: float) -> LeaseRecord:
        a.held = newer  # ... and the take landed before its answer
        return Table.renew(t, lease_id, holder, token, timeout)

    t.renew = racing_renew  # type: ignore[method-assign]
    assert a.renew(1.0).token == 2 and a.holds()


def test_a_look_cut_short_by_the_deadline_is_a_refusal_not_an_unreachable_table(
    now: list[float],
) -> None:
    """A CI run: the wait's last sleep overran the deadline, the look after it had no time
    left, timed out at once, and read as "unreachable": under act, the node without the
    lease moved everything in a split brain."""
    t = Table()
    a = node(t, "eni-a", Clock(now))
    a.look(1.0)
    a.take(1.0)
    arb = Arbiter(t, "g", TTL, "act", Clock(now))
    b = arb.lease("VI_1", "eni-b")
    deadline = _deadline(5.0, now)

    def late_sleep(s: float) -> None:
        before = now[0]
        now[0] = max(now[0] + s, deadline.end) if now[0] + 3 * s >= deadline.end else now[0] + s
        if int(before / (TTL / 3)) != int(now[0] / (TTL / 3)):
            a.renew(1.0)  # a lives

    with pytest.raises(LeaseRefused, match="held by eni-a"):
        arb.acquire(b, deadline, lambda: None, late_sleep)
