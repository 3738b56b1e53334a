"""Close a shared thing once it is retired and its last user is done with it (the agent swaps
engines on reload; a takeover holding the old one must finish with it)."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["Retiring"]


class Retiring:
    def __init__(self, close: Callable[[], None]) -> None:
        self._close = close
        self._lock = threading.Lock()
        self._users = 0
        self._retired = False

    def acquire(self) -> None:
        with self._lock:
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            done = self._retired and self._users == 0
        if done:
            self._close()

    def retire(self) -> None:
        """Close once the last user releases (now, if there is none)."""
        with self._lock:
            self._retired = True
            done = self._users == 0
        if done:
            self._close()
