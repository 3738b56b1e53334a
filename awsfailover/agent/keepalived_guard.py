"""The agent's answer to a keepalived that is gone (killed, OOM) while the agent lives on.

The agent reads keepalived's FIFO opened read-write, so it never sees keepalived go. Without
this, the orphaned agent would go on repairing as MASTER while the peer's keepalived, now
MASTER, has its agent move everything back: the two would trade the VIP every reconcile.
So before each reconcile the guard asks keepalived.liveness; once keepalived is gone, every
instance gets an UNKNOWN transition in keepalived's order (which also stops a takeover in
flight), and nothing is repaired until keepalived reports a state again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from awsfailover.agent.events import Event, TransitionEvent
from awsfailover.agent.metrics import Metrics
from awsfailover.agent.ordering import Ordering
from awsfailover.config.schema import AgentSettings
from awsfailover.keepalived.liveness import KeepalivedWatch
from awsfailover.keepalived.protocol import Transition
from awsfailover.keepalived.stamp import now_stamp

__all__ = ["KeepalivedGuard", "KeepalivedSpoke"]

log = logging.getLogger(__name__)


class KeepalivedGuard:
    def __init__(self, agent: AgentSettings, metrics: Metrics, ordering: Ordering) -> None:
        self.watch = KeepalivedWatch(agent.keepalived_pidfile)
        self.metrics = metrics
        self.ordering = ordering
        self.up: bool | None = None  # None: not watched yet (keepalived never seen)
        self.gone: str | None = None  # why, while keepalived is gone

    def check(self) -> None:
        # In keepalived's order, "gone" is as old as the read of the pid file: a transition
        # keepalived reports after the read (a new keepalived that rewrote its pid file
        # meanwhile) is newer, overtakes the UNKNOWN, and sends us to look again.
        stamp = now_stamp()
        alive, why = self.watch.check()
        was, self.up = self.up, alive
        if alive is not None:
            self.metrics.keepalived_up.set(1 if alive else 0)
        if alive is False and was is not False:
            self.gone = why
            log.error(
                "KEEPALIVED IS GONE (%s): this node's role is unknown; repairing nothing until "
                "keepalived reports a state",
                why,
            )
            spoke = False
            for name in list(self.ordering.workers):
                t = Transition("INSTANCE", name, "UNKNOWN")
                spoke |= self.ordering.dispatch(t, "keepalived-gone", stamp) is None
            if spoke:
                self.check()  # keepalived spoke since the read: it is most likely back
        elif alive and was is False:
            self.gone = None
            log.warning("keepalived is back (%s): following its transitions again", why)

    def spoke(self, channel: str) -> None:
        """keepalived reported a state (only keepalived writes its FIFO and runs its hook):
        it runs, whatever its pid file said a moment ago (a new keepalived may report before
        it has rewritten the file a killed one left). The next look judges the file again."""
        log.warning("keepalived is back (a transition on its %s): following it again", channel)
        self.gone, self.up = None, None
        self.metrics.keepalived_up.set(1)


class KeepalivedSpoke:
    """A listener: keepalived reported a state (on its FIFO, or through its hook) while the
    guard holds it gone. It is back, at once, not at the next reconcile: a pid file left by a
    killed keepalived must not keep a restarted one's agent unhealthy (keepalived's health
    tracker would hold this node 50 below its priority, so it could not preempt) for a whole
    reconcile_interval after keepalived is back."""

    def __init__(self, guard: KeepalivedGuard, back: Callable[[], None]) -> None:
        self.guard = guard
        self.back = back  # the agent's health, judged again

    def __call__(self, event: Event) -> None:
        if not isinstance(event, TransitionEvent) or event.source not in ("fifo", "hook"):
            return
        if self.guard.gone is not None:
            self.guard.spoke(event.source)
            self.back()
