"""The agent's view of each instance's place in keepalived's order: one Sequence (the file a
hook shares with the agent) per instance, made on first use, forgotten when the state
directories change on reload."""

from __future__ import annotations

import threading

from awsfailover.config.schema import FailoverSettings
from awsfailover.failover.sequence import Sequence

__all__ = ["Sequences"]


class Sequences:
    def __init__(self, failover: FailoverSettings) -> None:
        self._failover = failover
        self._by_name: dict[str, Sequence] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Sequence:
        with self._lock:
            seq = self._by_name.get(name)
            if seq is None:
                f = self._failover
                seq = self._by_name[name] = Sequence(name, f.state_dir, f.fallback_state_dir)
            return seq

    def reconfigure(self, failover: FailoverSettings) -> None:
        with self._lock:
            if failover != self._failover:
                self._by_name.clear()
            self._failover = failover
