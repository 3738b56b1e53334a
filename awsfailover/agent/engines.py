"""The agent's current engine, swapped on reload without aborting a takeover that holds the
old one: a takeover leases the engine, and the old one closes when its last lease ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from awsfailover.failover.engine import Engine

__all__ = ["EngineHolder"]


class EngineHolder:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()

    @property
    def current(self) -> Engine:
        return self._engine

    @contextmanager
    def lease(self) -> Iterator[Engine]:
        with self._lock:
            engine = self._engine.acquire()
        try:
            yield engine
        finally:
            engine.release()

    def swap(self, new: Engine) -> None:
        with self._lock:
            old, self._engine = self._engine, new
        old.retire()

    def retire(self) -> None:
        self._engine.retire()
