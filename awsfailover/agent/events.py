"""What happens in the agent, as events: the seam for everything that reacts to a failover.

The agent's parts emit; listeners react. Metrics and the operator's log lines are listeners
(agent.listeners), tests attach an audit listener, and a webhook or a notification sink is one
more listener with its settings. A listener that raises is logged and skipped: it can never
stop a takeover or another listener. Listeners run on the emitting thread, so they must be
quick; one that does I/O queues the event and returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from awsfailover.core.items import Item
from awsfailover.core.model import Outcome
from awsfailover.failover.sequence import Stamp

__all__ = [
    "Bus",
    "Event",
    "HealthChanged",
    "InputFailed",
    "LeaseEvent",
    "Listener",
    "MaintenanceChanged",
    "MutationEvent",
    "Reconciled",
    "SplitBrainEvent",
    "TakeoverFinished",
    "TakeoverStarted",
    "TransitionEvent",
]

log = logging.getLogger(__name__)

Reason = Literal["transition", "drift"]
Result = Literal["converged", "noop", "partial", "failed", "superseded", "refused"]
LeaseNews = Literal["taken", "lost", "released", "unreachable"]


@dataclass(frozen=True)
class TransitionEvent:
    """keepalived's state for an instance, received on a channel (fifo, hook, startup) or
    followed from a hook's record (recorded). generation is None when a newer transition
    had already been seen: the event is then not acted on."""

    instance: str
    kind: str
    state: str
    source: str
    stamp: Stamp
    generation: int | None


@dataclass(frozen=True)
class TakeoverStarted:
    instance: str
    reason: Reason
    generation: int


@dataclass(frozen=True)
class TakeoverFinished:
    """outcome is None when the takeover stopped before reporting one (failed, superseded,
    or damped); error says why."""

    instance: str
    reason: Reason
    generation: int
    result: Result
    outcome: Outcome | None = None
    error: str | None = None


@dataclass(frozen=True)
class MutationEvent:
    """A mutating EC2 call is about to be made (at: time.monotonic(), taken before the
    newest-transition check, so an audit never flatters the ordering)."""

    instance: str
    generation: int
    at: float


@dataclass(frozen=True)
class SplitBrainEvent:
    """damped: drift repairs latched off (another node also claims MASTER); lease_held: this
    MASTER moves nothing, because another node (holder) keeps renewing the arbiter's lease;
    cleared: keepalived reported a transition, which resets the damper, or the lease was
    taken (was_damped says whether either had latched)."""

    instance: str
    status: Literal["damped", "cleared", "lease_held"]
    repairs: int = 0
    window: float = 0.0
    was_damped: bool = False
    holder: str | None = None


@dataclass(frozen=True)
class LeaseEvent:
    """The arbiter's lease as this agent holds it: taken (token), lost (to holder), released
    (on demotion), unreachable (the table did not answer: a takeover went on without the
    lease, or held, per on_unreachable; detail says which and why)."""

    instance: str
    what: LeaseNews
    token: int | None = None
    holder: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Reconciled:
    """A successful reconcile: per instance, the items on this node against its total."""

    items: Mapping[str, tuple[frozenset[Item], tuple[Item, ...]]]


@dataclass(frozen=True)
class InputFailed:
    """One input (a FIFO line, a hand-off, a reconcile) raised what nothing expected: it is
    logged and counted, and the agent goes on with the next one."""

    input: Literal["fifo", "handoff", "reconcile"]
    error: str


@dataclass(frozen=True)
class HealthChanged:
    ok: bool
    why: str


@dataclass(frozen=True)
class MaintenanceChanged:
    """`awsfailover maintenance on|off` as this node's agent saw it (the flag keepalived's
    tracker reads), noticed when keepalived reports the state it causes, or at a reconcile."""

    on: bool


Event = (
    TransitionEvent
    | TakeoverStarted
    | TakeoverFinished
    | MutationEvent
    | SplitBrainEvent
    | LeaseEvent
    | Reconciled
    | InputFailed
    | HealthChanged
    | MaintenanceChanged
)


class Listener(Protocol):
    def __call__(self, event: Event, /) -> None: ...


class Bus:
    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self._listeners: tuple[Listener, ...] = tuple(listeners)
        self._lock = threading.Lock()

    def add(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = (*self._listeners, listener)

    def remove(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = tuple(x for x in self._listeners if x is not listener)

    def close(self) -> None:
        """Close every listener that holds something (a sink's outbox), each bounded."""
        for listener in self._listeners:
            close = getattr(listener, "close", None)
            if callable(close):
                close()

    def emit(self, event: Event) -> None:
        for listener in self._listeners:  # a snapshot: add/remove never disturb an emit
            try:
                listener(event)
            except Exception:
                log.exception("event listener %r failed on %s", listener, type(event).__name__)
