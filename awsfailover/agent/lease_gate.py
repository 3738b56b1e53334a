"""The agent's side of one instance's arbiter lease: taken before a takeover, renewed every
ttl/3 while this node is MASTER and holds it, watched every ttl/6 otherwise, and released when
keepalived demotes this node (the next MASTER then takes it without waiting a ttl).

Watching while BACKUP is what makes a real failover cost nothing: by the time keepalived
promotes this node after its master died, the dead master's lease has been seen unchanged for
longer than the ttl, so the takeover's one conditional write takes it at once.

The keeper is one thread for all instances; a worker asks its gate before acting, and the
gate tells the worker (request) when a MASTER that was refused may now take the lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from awsfailover.agent.events import Bus, LeaseEvent, LeaseNews, SplitBrainEvent
from awsfailover.core.deadline import Deadline
from awsfailover.core.lease import Lease
from awsfailover.errors import AwsError, LeaseLost, LeaseRefused
from awsfailover.failover.arbiter import Arbiter, both
from awsfailover.failover.moves import Guard

__all__ = ["LeaseGate", "LeaseKeeper"]

log = logging.getLogger(__name__)


class LeaseGate:
    def __init__(self, arbiter: Arbiter, instance: str, me: Callable[[], str], events: Bus) -> None:
        self.arbiter = arbiter
        self.instance = instance
        self.me = me  # this node's ENI for the instance (the engine's; a reload may swap it)
        self.events = events
        self.refused = False  # a split brain flagged since keepalived's last transition
        self._unreachable = False  # the keeper's calls are failing: said once per outage

    @property
    def lease(self) -> Lease:
        return self.arbiter.lease(self.instance, self.me())

    def admit(self, deadline: Deadline, guard: Guard) -> tuple[Guard, int | None]:
        """The guard a takeover runs with, and the fencing token; LeaseRefused (with its
        events emitted) when it must not act."""
        lease = self.lease
        if self.refused and lease.free_in() != 0.0:
            # a split brain already said: a repair or a settle look does not wait a whole
            # deadline again; the keeper asks for a takeover once the lease is free
            holder = lease.other_holder
            raise LeaseRefused(f"{lease.lease_id}: held by {holder}; watching it", holder)
        try:
            grant = self.arbiter.acquire(lease, deadline, guard)
        except LeaseRefused as exc:
            if exc.holder is None:  # unreachable, on_unreachable = hold
                self._event("unreachable", detail=f"holding: {exc}")
            elif not self.refused:
                self.refused = True
                self.events.emit(SplitBrainEvent(self.instance, "lease_held", holder=exc.holder))
            raise
        if grant.token is None:
            self._event("unreachable", detail=f"acting without the lease: {grant.unreachable}")
            return guard, None
        self._event("taken", token=grant.token)
        if self.refused:
            self.refused = False
            self.events.emit(SplitBrainEvent(self.instance, "cleared", was_damped=True))
        return both(guard, self.arbiter.guard(lease, grant)), grant.token

    def transition(self) -> bool:
        """keepalived spoke: a split brain flagged is cleared (whether one was, returned)."""
        was, self.refused = self.refused, False
        return was

    def demoted(self) -> None:
        lease = self.lease
        token = lease.token
        if token is None:
            return
        try:
            lease.release(self.arbiter.call_timeout)
            self._event("released", token=token)
        except AwsError as exc:  # it goes stale after a ttl instead: the peer waits that long
            log.warning("%s: lease not released (%s); stale in %gs", self.instance, exc, lease.ttl)

    def tick(self, master: bool) -> bool:
        """The keeper's turn: renew if we hold it, else look. True when this node is MASTER
        without the lease and may take it now."""
        lease = self.lease
        timeout = self.arbiter.call_timeout
        try:
            if master and lease.held is not None:
                if self.arbiter.clock() - lease.renewed_at >= lease.ttl / 3 - timeout / 2:
                    lease.renew(timeout)
                self._reachable()
                return False
            lease.look(timeout)
        except LeaseLost as exc:
            self._event("lost", holder=lease.other_holder, detail=str(exc))
            return master
        except AwsError as exc:
            if not self._unreachable:
                self._unreachable = True
                log.warning("%s: arbiter table not answering: %s", self.instance, exc)
            return False
        self._reachable()
        return master and lease.held is None and lease.free_in() == 0.0

    def _reachable(self) -> None:
        if self._unreachable:
            self._unreachable = False
            log.info("%s: arbiter table answering again", self.instance)

    def _event(
        self,
        what: LeaseNews,
        *,
        token: int | None = None,
        holder: str | None = None,
        detail: str = "",
    ) -> None:
        self.events.emit(LeaseEvent(self.instance, what, token, holder, detail))


class LeaseKeeper:
    """One thread: every ttl/6, each instance's gate renews or looks."""

    def __init__(self, interval: float, turns: Callable[[], Iterable[Callable[[], None]]]) -> None:
        self.interval = interval
        self.turns = turns
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            for turn in self.turns():
                try:
                    turn()
                except Exception:  # the keeper must outlive any one instance's trouble
                    log.exception("lease keeper")
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self._stop.set()
