"""The hook's own events, when no agent answered and it did the work itself: its `transition`
and, for a MASTER, its `takeover.finished`, sent only after the work and within ONCE_BUDGET
seconds in all (each sink in its own thread; what is not sent by then is dropped, and the
log says so). No queue, no retry: the hook is a process that must end.

The [events] table is read from the raw config, which the validated load has accepted
(the hook's cached config exists only for a file that passed it): no pydantic here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from awsfailover.agent.events import Result, SplitBrainEvent, TakeoverFinished, TransitionEvent
from awsfailover.agent.sinks.schema import document
from awsfailover.core.model import Outcome
from awsfailover.errors import LeaseRefused, Superseded
from awsfailover.failover.sequence import ZERO
from awsfailover.keepalived.protocol import Transition

__all__ = ["ONCE_BUDGET", "HookEvents"]

log = logging.getLogger(__name__)

ONCE_BUDGET = 1.0  # seconds after the work, for every sink together

Send = Callable[[dict[str, Any]], None]


def _sinks(events: dict[str, Any], region: str | None) -> dict[str, Send]:
    from awsfailover.agent.sinks.senders import Webhook, eventbridge, sns

    out: dict[str, Send] = {}
    url, secret = events.get("webhook_url"), events.get("webhook_secret_file")
    if isinstance(url, str):
        out["webhook"] = Webhook(url, Path(secret) if isinstance(secret, str) else None)
    topic = events.get("sns_topic_arn")
    if isinstance(topic, str):
        out["sns"] = sns(topic)
    bus = events.get("eventbridge_bus")
    if isinstance(bus, str):
        where = bus.split(":")[3] if bus.startswith("arn:") else region
        if where:
            out["eventbridge"] = eventbridge(bus, lambda: where)
        else:
            log.warning("events to eventbridge: no Region known for bus %s; not sent", bus)
    return out


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


class HookEvents:
    def __init__(self, doc: dict[str, Any], t: Transition) -> None:
        raw = doc.get("events")
        self.events = raw if isinstance(raw, dict) else {}
        group, node = _table(doc, "group"), _table(doc, "node")
        self.node = str(node.get("eni_id") or "")
        enis = group.get("enis")
        names = sorted(map(str, enis)) if isinstance(enis, list) else []
        self.group = str(group.get("resource_tag") or "+".join(names))
        region = doc.get("region")
        self.region = region if isinstance(region, str) else os.environ.get("AWS_REGION")
        self.docs: list[dict[str, Any]] = []
        self.done = False
        self.add(TransitionEvent(t.name, t.kind, t.state, "hook", t.stamp or ZERO, 0))

    def add(self, event: TransitionEvent | TakeoverFinished | SplitBrainEvent) -> None:
        if isinstance(event, TakeoverFinished) and event.outcome is not None:
            self.node = self.node or event.outcome.eni_id
        doc = document(event, self.group or self.node, self.node)
        if doc is not None:
            self.docs.append(doc)

    def took(self, outcome: Outcome) -> None:
        """The takeover's outcome, complete or partial."""
        result: Result = "converged" if outcome.complete else "partial"
        if not outcome.planned and outcome.complete:
            result = "noop"  # nothing moved: not news (the agent says nothing either)
        self.add(TakeoverFinished(outcome.instance, "transition", 0, result, outcome))
        self.done = True

    def failed(self, name: str, exc: Exception) -> None:
        """No outcome: stopped by a newer transition, or failed before anything moved."""
        if self.done:
            return  # a partial outcome was already said; its error line is the same news
        result: Result = "superseded" if isinstance(exc, Superseded) else "failed"
        if isinstance(exc, LeaseRefused):
            result = "refused"  # the arbiter's lease: nothing moved
            if exc.holder is not None:  # another node renews it: a split brain
                self.add(SplitBrainEvent(name, "lease_held", holder=exc.holder))
        self.add(TakeoverFinished(name, "transition", 0, result, None, error=str(exc)))

    def send(self, budget: float = ONCE_BUDGET, since: float | None = None) -> None:
        """Every document to every sink, in order per sink, within budget seconds of since
        (the end of the hook's work; default now)."""
        end = (time.monotonic() if since is None else since) + budget
        try:
            sinks = _sinks(self.events, self.region)
        except Exception as exc:  # a key that cannot be read: said, and the hook's rc stands
            log.warning("events not sent: %s", exc)
            return
        sent: dict[str, int] = dict.fromkeys(sinks, 0)

        def run(name: str, send: Send) -> None:
            for doc in self.docs:
                try:
                    send(doc)
                except Exception as exc:
                    log.warning("events to %s: %s not delivered: %s", name, doc["type"], exc)
                    return
                sent[name] += 1

        threads = [
            threading.Thread(target=run, args=item, name=f"events-{item[0]}", daemon=True)
            for item in sinks.items()
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join(max(0.0, end - time.monotonic()))
        for name, n in sent.items():
            if n < len(self.docs):
                log.warning(
                    "events to %s: %d of %d sent within %.1fs", name, n, len(self.docs), budget
                )
