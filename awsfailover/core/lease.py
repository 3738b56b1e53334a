"""One instance's lease in the arbiter's table, as this node sees and holds it. Pure: the
table is injected (aws.lease_table in the product, a dict in the unit tests) and so is the
clock, which is this node's monotonic clock and nobody else's.

The guarantee: a node takes a lease that another node holds only after it has itself seen
that lease unchanged (same holder, same counter) for a full ttl on its own clock. A holder
bumps the counter with every renewal (every ttl/3), so a live holder's lease never looks
unchanged for a ttl, whatever the two clocks read; no timestamp is ever written or compared.
Every write is conditional on what the writer last saw, so two nodes can never both believe
a write of theirs took the lease: DynamoDB applies one and refuses the other.

A holder may act until ttl after it *sent* its last successful write (the write was applied
later, and whoever sees it saw it later still). The fencing token is bumped on every take (a
holder that takes over again while it holds the lease keeps it), so each holder's mutating
calls are logged with a number no earlier holder had.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from awsfailover.errors import CONDITION_FAILED, AwsError, LeaseLost, TransientError

__all__ = ["FREE", "TIMEOUT", "Lease", "LeaseRecord", "LeaseTable", "conflict"]

TIMEOUT = "Timeout"  # the code of a call that got no answer within its bound
FREE = "free"  # the holder of a released lease (no ENI id reads so): anyone may take it at once


@dataclass(frozen=True)
class LeaseRecord:
    holder: str  # the holder's id (its ENI), FREE once released
    counter: int  # bumped by every write: a renewal, a take, a release
    token: int  # the fencing token: bumped by every take

    def same(self, other: LeaseRecord | None) -> bool:
        return other is not None and (self.holder, self.counter) == (other.holder, other.counter)


class LeaseTable(Protocol):
    """The table's conditional writes. Each raises PermanentError(CONDITION_FAILED) when the
    item is not as the condition says, TransientError when the answer was lost or never came
    (the write may or may not have been applied)."""

    def read(self, lease_id: str, timeout: float) -> LeaseRecord | None: ...

    def create(self, lease_id: str, holder: str, timeout: float) -> LeaseRecord:
        """Put {holder, counter 1, token 1} if there is no item."""
        ...

    def claim(self, lease_id: str, holder: str, seen: LeaseRecord, timeout: float) -> LeaseRecord:
        """Set holder, counter + 1, token + 1 if the item is still exactly `seen`."""
        ...

    def renew(self, lease_id: str, holder: str, token: int, timeout: float) -> LeaseRecord:
        """Counter + 1 if holder and token are still ours."""
        ...

    def release(self, lease_id: str, holder: str, token: int, timeout: float) -> None:
        """Holder FREE, counter + 1, if holder and token are still ours."""
        ...


def conflict(exc: AwsError) -> bool:
    """The table refused a conditional write: the item is not what the writer saw."""
    return exc.code == CONDITION_FAILED


class Lease:
    """What this node has seen of one lease and whether it holds it. Thread-safe: the agent's
    keeper looks and renews while a worker takes."""

    def __init__(
        self,
        table: LeaseTable,
        lease_id: str,
        me: str,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.lease_id = lease_id
        self.me = me
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self.known = False  # looked at least once
        self.seen: LeaseRecord | None = None  # the item as last seen (None: no item)
        self.seen_since = 0.0  # when `seen` was first seen, on our clock
        self.held: LeaseRecord | None = None  # ours, as our last successful write left it
        self.renewed_at = 0.0  # when that write was sent, on our clock

    # --- seeing -----------------------------------------------------------------------------

    def note(self, rec: LeaseRecord | None) -> None:
        """Remember what a read (or a write's answer) returned. The time is taken after the
        answer: the value was written before it was served, so "first seen" is never early."""
        now = self.clock()
        with self._lock:
            same = rec.same(self.seen) if rec is not None else self.seen is None
            if not self.known or not same:
                self.seen, self.seen_since = rec, now
            self.known = True
            if self.held is not None and (rec is None or rec.holder != self.me):
                self.held = None  # someone else's now (or deleted): ours no longer

    def look(self, timeout: float) -> LeaseRecord | None:
        rec = self.table.read(self.lease_id, timeout)
        self.note(rec)
        return rec

    def free_in(self, now: float | None = None) -> float | None:
        """Seconds until this node may take the lease (0: now); None before the first look."""
        with self._lock:
            if not self.known:
                return None
            rec = self.seen
            if rec is None or rec.holder in (FREE, self.me):
                return 0.0
            now = self.clock() if now is None else now
            return max(0.0, self.seen_since + self.ttl - now)

    @property
    def other_holder(self) -> str | None:
        """Who else holds it, as last seen (None: nobody else)."""
        rec = self.seen
        return rec.holder if rec is not None and rec.holder not in (FREE, self.me) else None

    # --- holding ----------------------------------------------------------------------------

    def holds(self, now: float | None = None) -> bool:
        """Ours, and our last successful write was sent less than ttl ago."""
        with self._lock:
            if self.held is None:
                return False
            now = self.clock() if now is None else now
            return now - self.renewed_at < self.ttl

    @property
    def token(self) -> int | None:
        held = self.held
        return held.token if held is not None else None

    def _won(self, rec: LeaseRecord, sent: float) -> LeaseRecord:
        with self._lock:
            self.held, self.renewed_at = rec, sent
            self.seen, self.seen_since, self.known = rec, self.clock(), True
        return rec

    def take(self, timeout: float) -> LeaseRecord:
        """One conditional write taking the lease as last seen (the caller checked free_in).
        A refusal, or a lost answer, is followed by a read: the lease is ours exactly when
        the item says so, whatever the answer said."""
        with self._lock:
            seen, known = self.seen, self.known
        if not known:
            raise RuntimeError("take() before the first look")
        sent = self.clock()
        try:
            if seen is None:
                rec = self.table.create(self.lease_id, self.me, timeout)
            else:
                rec = self.table.claim(self.lease_id, self.me, seen, timeout)
        except TransientError:
            # the write may have been applied with its answer lost: the item says
            now_rec = self.look(timeout)
            if now_rec is not None and now_rec.holder == self.me and _after(now_rec, seen):
                return self._won(now_rec, sent)
            raise
        except AwsError as exc:
            if conflict(exc):
                self.look(timeout)  # what it is now: the caller decides again
            raise
        return self._won(rec, sent)

    def renew(self, timeout: float) -> LeaseRecord:
        """Bump the counter of the lease we hold. LeaseLost when it is no longer ours;
        TransientError when the table did not answer (we hold it until ttl after the last
        successful renewal was sent)."""
        held = self.held
        if held is None:
            raise LeaseLost(f"{self.lease_id}: not held")
        sent = self.clock()
        try:
            rec = self.table.renew(self.lease_id, self.me, held.token, timeout)
        except AwsError as exc:
            if not conflict(exc):
                raise
            with self._lock:
                if self.held is not None and self.held.token != held.token:
                    return self.held  # our own take since, with a newer token: still ours
                self.held = None
            self.look(timeout)
            raise LeaseLost(
                f"{self.lease_id}: lease token {held.token} lost to "
                f"{self.other_holder or 'a release'}"
            ) from exc
        return self._won(rec, sent)

    def release(self, timeout: float) -> None:
        """Hand the lease back (a demotion): the next MASTER takes it without waiting a ttl.
        Forgotten here first: whatever the table says, we no longer act on it."""
        with self._lock:
            held, self.held = self.held, None
        if held is None:
            return
        try:
            self.table.release(self.lease_id, self.me, held.token, timeout)
        except AwsError as exc:
            if not conflict(exc):
                raise  # unreleased, it goes stale after ttl: the peer waits, nothing breaks


def _after(rec: LeaseRecord, seen: LeaseRecord | None) -> bool:
    """rec is the write a take of `seen` would have made (not a later holder's own)."""
    if seen is None:
        return rec.token == 1
    return rec.token == seen.token + 1
