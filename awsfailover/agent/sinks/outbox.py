"""One bounded queue and one sender thread per sink: delivering an event never slows or blocks
a failover. The bus's listener only appends (a full queue drops its oldest event, counted);
the sender retries a transient failure with backoff for at most RETRY_FOR seconds, then
counts the event failed and moves on."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from awsfailover.core.backoff import Backoff, Policy

__all__ = ["MAX_QUEUED", "RETRY_FOR", "Outbox", "Permanent"]

log = logging.getLogger(__name__)

MAX_QUEUED = 1000  # events waiting per sink; past it the oldest go first
RETRY_FOR = 30.0  # seconds one event is retried before it is counted failed
RETRY = Policy(first=0.2, cap=5.0)


class Permanent(Exception):
    """A sender's failure that no retry will cure (a 4xx, a refused topic)."""


Count = Callable[[str], None]  # outcome ("sent", "failed", "dropped") -> counted


class Outbox:
    def __init__(self, name: str, send: Callable[[dict[str, Any]], None], count: Count) -> None:
        self.name = name
        self._send = send
        self._count = count
        self._queue: deque[dict[str, Any]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"sink-{name}", daemon=True)
        self._thread.start()

    def put(self, doc: dict[str, Any]) -> None:
        with self._cond:
            if len(self._queue) >= MAX_QUEUED:
                self._queue.popleft()
                self._count("dropped")
            self._queue.append(doc)
            self._cond.notify()

    def close(self, timeout: float = 1.0) -> None:
        """Stop; what is still queued after timeout is dropped (a stopping agent must stop)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed and not self._queue:
                    return
                doc = self._queue.popleft()
            self._deliver(doc)

    def _deliver(self, doc: dict[str, Any]) -> None:
        end = time.monotonic() + RETRY_FOR
        backoff = Backoff(RETRY)
        while True:
            try:
                self._send(doc)
                self._count("sent")
                return
            except Permanent as exc:
                log.warning("events to %s: %s dropped: %s", self.name, doc.get("type"), exc)
            except Exception as exc:  # transient: retry within RETRY_FOR, unless stopping
                if not self._closed and time.monotonic() + backoff.delay < end:
                    log.debug("events to %s: %s; retrying", self.name, exc)
                    backoff.sleep()
                    continue
                log.warning("events to %s: %s not delivered: %s", self.name, doc.get("type"), exc)
            self._count("failed")
            return
