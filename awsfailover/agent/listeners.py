"""The agent's own listeners: Prometheus metrics and the operator's log lines."""

from __future__ import annotations

import logging
import time

from awsfailover.agent.events import (
    Event,
    InputFailed,
    LeaseEvent,
    Reconciled,
    SplitBrainEvent,
    TakeoverFinished,
    TransitionEvent,
)
from awsfailover.agent.metrics import Metrics

__all__ = ["LogListener", "MetricsListener"]

log = logging.getLogger(__name__)

# Followed from a record in the sequence file (a hook's, or ours before a restart), not
# received from keepalived: not counted as a transition received.
_NOT_RECEIVED = frozenset({"recorded", "resume"})


class MetricsListener:
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def __call__(self, event: Event) -> None:
        m = self.metrics
        if isinstance(event, TransitionEvent):
            if event.generation is None:
                m.handoffs.labels(f"{event.source}-overtaken").inc()
                return
            if event.source not in _NOT_RECEIVED:
                m.handoffs.labels(event.source).inc()
            m.set_state(event.instance, event.state)
        elif isinstance(event, SplitBrainEvent):
            if event.status == "damped":
                m.damped.labels(event.instance).inc()
            m.split_brain.labels(event.instance).set(0 if event.status == "cleared" else 1)
        elif isinstance(event, LeaseEvent):
            self._lease(event)
        elif isinstance(event, TakeoverFinished):
            m.takeovers.labels(event.instance, event.result).inc()
            out = event.outcome
            if out is None or event.result == "noop":
                return
            if event.reason == "drift":
                m.drift_repairs.labels(event.instance).inc()
            m.takeover_seconds.labels(event.instance).observe(out.seconds)
        elif isinstance(event, InputFailed):
            m.input_errors.labels(event.input).inc()
        elif isinstance(event, Reconciled):
            m.last_reconcile.set(time.time())
            for name, (here, total) in event.items.items():
                m.set_items(name, set(here), list(total))

    def _lease(self, event: LeaseEvent) -> None:
        m, name = self.metrics, event.instance
        if event.what == "taken" and event.token is not None:
            m.lease_held.labels(name).set(1)
            m.lease_token.labels(name).set(event.token)
        elif event.what in ("lost", "released"):
            m.lease_held.labels(name).set(0)
        elif event.what == "unreachable":
            m.arbiter_unreachable.labels(name).inc()


class LogListener:
    def __call__(self, event: Event) -> None:
        if isinstance(event, InputFailed):
            log.error("%s: unexpected %s; carrying on", event.input, event.error)
        elif isinstance(event, SplitBrainEvent) and event.status == "damped":
            log.error(
                "%s: DAMPED drift repair: %d repairs in %.0fs since keepalived's last "
                "transition; another node also claims MASTER (split brain?). Leaving EC2 as "
                "it is until keepalived reports a new transition.",
                event.instance,
                event.repairs,
                event.window,
            )
        elif isinstance(event, SplitBrainEvent) and event.status == "lease_held":
            log.error(
                "%s: SPLIT BRAIN: keepalived has this node MASTER, but %s keeps renewing the "
                "arbiter's lease: moving nothing, watching the lease",
                event.instance,
                event.holder,
            )
        elif isinstance(event, LeaseEvent):
            _lease(event)
        elif isinstance(event, TakeoverFinished):
            self._finished(event)

    @staticmethod
    def _finished(event: TakeoverFinished) -> None:
        name, out = event.instance, event.outcome
        if event.result == "superseded":
            log.info("%s", event.error)
        elif event.result == "failed" and event.error is not None:
            log.error("%s: takeover failed: %s", name, event.error)
        elif event.result == "refused":
            log.error("%s: %s: nothing moved: %s", name, event.reason, event.error)
        elif event.result == "converged" and out is not None:
            log.info("%s: %s: %s", name, event.reason, out.converged())
        elif event.result == "partial" and out is not None:
            log.error("%s: %s: %s", name, event.reason, out.shortfall())


def _lease(event: LeaseEvent) -> None:
    """An unreachable table is logged where it is met (failover.arbiter), once."""
    if event.what == "lost":
        log.error("%s: arbiter lease LOST to %s: %s", event.instance, event.holder, event.detail)
    elif event.what == "released":
        log.info("%s: arbiter lease released (token %s)", event.instance, event.token)
