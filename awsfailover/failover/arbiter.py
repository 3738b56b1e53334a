"""The arbiter on the failover path: a MASTER takes the instance's lease before its first
mutating call, and each call checks that it still holds it.

Taking waits, within the takeover's deadline, for a lease held by another node to go stale
(unchanged for a ttl on our clock) or be released; an agent that watched the lease while
BACKUP has usually seen it stale already and waits nothing. A lease another node keeps
renewing is never taken: LeaseRefused, nothing moves (a split brain). A table that does not
answer is the policy's: "act" moves without the lease, loudly; "hold" moves nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from awsfailover.core.deadline import Deadline
from awsfailover.core.lease import TIMEOUT, Lease, LeaseTable, conflict
from awsfailover.errors import THROTTLE_CODES, AwsError, LeaseLost, LeaseRefused, TransientError
from awsfailover.failover.moves import Guard, no_guard

if TYPE_CHECKING:
    from awsfailover.config.compact import FailoverConfig

__all__ = ["POLL_TAKING", "Arbiter", "Grant", "both", "build_arbiter", "lease_id", "renewing"]

log = logging.getLogger(__name__)

POLL_TAKING = 0.1  # seconds between looks while a takeover waits for the lease
CALL_CAP = 1.0  # seconds: the longest one lease call may take (DynamoDB answers in ~10 ms)


def lease_id(group: str, instance: str) -> str:
    return f"{group}/{instance}"


@dataclass(frozen=True)
class Grant:
    """What a takeover may do. token None: acting without the lease (the table did not
    answer, on_unreachable = "act"); unreachable says why."""

    token: int | None
    waited: float
    unreachable: str | None = None


class Arbiter:
    """This node's leases (one per instance) and the policy for an unreachable table."""

    def __init__(
        self,
        table: LeaseTable,
        group: str,
        ttl: float,
        on_unreachable: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.table = table
        self.group = group
        self.ttl = ttl
        self.on_unreachable = on_unreachable
        self.clock = clock
        self._leases: dict[str, Lease] = {}

    @property
    def call_timeout(self) -> float:
        """One call's bound: a sixth of the ttl, so a hanging table costs an "act" takeover
        at most that, and a renewal every ttl/3 has room for one."""
        return min(self.ttl / 6, CALL_CAP)

    def lease(self, instance: str, me: str) -> Lease:
        lease = self._leases.get(instance)
        if lease is None or lease.me != me:
            lease = self._leases[instance] = Lease(
                self.table, lease_id(self.group, instance), me, self.ttl, self.clock
            )
        return lease

    def budget(self, deadline: Deadline) -> float:
        return min(self.call_timeout, deadline.remaining())

    def acquire(
        self,
        lease: Lease,
        deadline: Deadline,
        guard: Guard,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Grant:
        """Take the lease within the deadline. LeaseRefused when another node keeps it (or
        the table does not answer under "hold"); guard's Superseded when a newer transition
        arrives meanwhile."""
        started = self.clock()
        if lease.holds():  # a repair, or a settle look, of the MASTER that holds it
            return Grant(lease.token, 0.0)
        budget = self.call_timeout
        while True:
            guard()
            if deadline.expired():
                raise self._refused(lease, deadline)
            try:
                left = lease.free_in()
                if left is None:
                    lease.look(budget := self.budget(deadline))
                    continue
                if left == 0.0:
                    rec = lease.take(budget := self.budget(deadline))
                    waited = self.clock() - started
                    log.info(
                        "%s: lease taken, token %d (waited %.2fs)",
                        lease.lease_id,
                        rec.token,
                        waited,
                    )
                    return Grant(rec.token, waited)
                nap = min(left, POLL_TAKING)
                if deadline.remaining() <= nap:
                    raise self._refused(lease, deadline)
                sleep(nap)
                lease.look(budget := self.budget(deadline))
            except TransientError as exc:
                if exc.code == TIMEOUT and budget < self.call_timeout:
                    # cut short by our own deadline (a sleep overran it): that says nothing
                    # of the table, and must not read as "unreachable, act without the lease"
                    raise self._refused(lease, deadline) from exc
                if exc.code in THROTTLE_CODES and deadline.remaining() > POLL_TAKING:
                    sleep(POLL_TAKING)  # the table is there, only busy: once more
                    continue
                return self._unreachable(lease, exc, started)
            except AwsError as exc:
                if conflict(exc):
                    continue  # changed under us; take() has looked again
                return self._unreachable(lease, exc, started)

    def _refused(self, lease: Lease, deadline: Deadline) -> LeaseRefused:
        holder = lease.other_holder
        return LeaseRefused(
            f"{lease.lease_id}: lease held by {holder or 'another node'}, renewed within the "
            f"last {self.ttl:g}s, for all of {deadline.seconds:g}s: another node is MASTER "
            "too (split brain?); nothing moved",
            holder,
        )

    def _unreachable(self, lease: Lease, exc: AwsError, started: float) -> Grant:
        if self.on_unreachable == "hold":
            raise LeaseRefused(
                f"{lease.lease_id}: arbiter unreachable ({exc}); on_unreachable = hold: "
                "nothing moved"
            ) from exc
        log.error(
            "%s: arbiter unreachable (%s); acting WITHOUT the lease (on_unreachable = act)",
            lease.lease_id,
            exc,
        )
        return Grant(None, self.clock() - started, unreachable=str(exc))

    def guard(self, lease: Lease, grant: Grant) -> Guard:
        """Checked before each mutating call: the lease is still ours. A lease lost to
        another node stops the takeover; renewals that failed for a ttl stop it under
        "hold" only ("act" keeps moving, as without an arbiter)."""
        if grant.token is None:
            return no_guard

        def check() -> None:
            if lease.holds():
                return
            if lease.held is None:
                raise LeaseLost(f"{lease.lease_id}: lease token {grant.token} lost")
            if self.on_unreachable == "hold":
                raise LeaseLost(
                    f"{lease.lease_id}: lease token {grant.token} not renewed for "
                    f"{self.ttl:g}s; on_unreachable = hold: stopping"
                )

        return check


def both(first: Guard, second: Guard) -> Guard:
    def check() -> None:
        first()
        second()

    return check


@contextmanager
def renewing(arbiter: Arbiter, lease: Lease, grant: Grant) -> Iterator[None]:
    """Renew every ttl/3 on a thread while the block runs: a hook's takeover (no agent to
    renew) may outlast the ttl. Afterwards nobody renews: the lease goes stale a ttl later."""
    if grant.token is None:
        yield
        return
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(arbiter.ttl / 3):
            try:
                lease.renew(arbiter.call_timeout)
            except LeaseLost:
                return  # the guard stops the takeover at its next call
            except AwsError as exc:
                log.warning("%s: lease renewal failed: %s", lease.lease_id, exc)

    thread = threading.Thread(target=run, name="lease-renewal", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()


def build_arbiter(settings: FailoverConfig, region: str) -> Arbiter | None:
    """The config's arbiter with its DynamoDB client, or None without [arbiter]."""
    a = settings.arbiter
    if a is None:
        return None
    from awsfailover.aws.lease_table import DynamoLeaseTable, make_dynamodb_client

    group = settings.group.name
    if group is None:  # the schema requires it; a hand-edited cache might not
        raise LeaseRefused("[arbiter] needs group.name")
    timeout = min(a.lease_ttl / 6, CALL_CAP)
    table = DynamoLeaseTable(make_dynamodb_client(region, timeout), a.table)
    return Arbiter(table, group, a.lease_ttl, a.on_unreachable)
