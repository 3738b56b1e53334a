"""The events an operator receives, as JSON documents. The README documents this schema; a
change that breaks a consumer bumps VERSION (a new type, status or optional field does not).

Every event: version, id (unique), time (RFC 3339, UTC), type, group, node, instance.
- transition: state, channel (fifo, hook, startup...);
- takeover.finished: reason, complete, moved, not_moved, seconds, mutating_calls, errors;
- drift.repaired: the same fields as takeover.finished, for a repair the reconcile asked for;
- split_brain: status (damped, lease_held, cleared), repairs, window, holder (lease_held);
- health: ok, why;
- maintenance: on (`awsfailover maintenance on|off`, as this node's agent saw it).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from awsfailover.agent.events import (
    Event,
    HealthChanged,
    MaintenanceChanged,
    SplitBrainEvent,
    TakeoverFinished,
    TransitionEvent,
)

__all__ = ["VERSION", "document"]

VERSION = 1


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def document(event: Event, group: str, node: str) -> dict[str, Any] | None:
    """The event's JSON document, or None for the bus's internal events."""
    base: dict[str, Any] = {"version": VERSION, "id": str(uuid.uuid4()), "time": _now()}
    base.update(group=group, node=node)
    if isinstance(event, TransitionEvent):
        if event.generation is None:
            return None  # overtaken: not a state this node took
        state = {"state": event.state, "channel": event.source}
        return {**base, "type": "transition", "instance": event.instance, **state}
    if isinstance(event, TakeoverFinished):
        if event.result == "noop":
            return None
        out = event.outcome
        kind = "drift.repaired" if event.reason == "drift" else "takeover.finished"
        return {
            **base,
            "type": kind,
            "instance": event.instance,
            "reason": event.reason,
            "result": event.result,
            "complete": bool(out is not None and out.complete),
            "moved": list(out.moved) if out else [],
            "not_moved": list(out.not_moved) if out else [],
            "seconds": round(out.seconds, 3) if out else None,
            "mutating_calls": out.mutating_calls if out else 0,
            "errors": list(out.errors) if out else ([event.error] if event.error else []),
        }
    if isinstance(event, SplitBrainEvent):
        if event.status == "cleared" and not event.was_damped:
            return None  # every transition clears: only a real clearing is news
        split: dict[str, Any] = {
            "status": event.status,
            "repairs": event.repairs,
            "window": event.window,
        }
        if event.holder is not None:
            split["holder"] = event.holder
        return {**base, "type": "split_brain", "instance": event.instance, **split}
    if isinstance(event, HealthChanged):
        return {**base, "type": "health", "instance": None, "ok": event.ok, "why": event.why}
    if isinstance(event, MaintenanceChanged):
        return {**base, "type": "maintenance", "instance": None, "on": event.on}
    return None
