"""The tests' audit trail of an agent: every mutating call, as the agent's event bus reports
it, bounded."""

from __future__ import annotations

import threading

from awsfailover.agent.events import Event, MutationEvent


class MutationLog:
    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.entries: list[tuple[float, str, int]] = []  # (time, instance, generation)
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if isinstance(event, MutationEvent):
            with self._lock:
                if len(self.entries) < self.limit:
                    self.entries.append((event.at, event.instance, event.generation))
