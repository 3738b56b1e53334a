"""Damping against split-brain ping-pong."""

from __future__ import annotations

from collections import deque

__all__ = ["Damper"]


class Damper:
    """At most max_moves drift repairs that moved something per window, counted since
    keepalived's last transition. Past that, drift repairs latch off until keepalived reports a
    new transition: two masters (a cut VRRP link) then stop stealing the VIP back and forth,
    and the last move stands. keepalived's own transitions are never counted: they are the
    order we exist to follow, however many there are."""

    def __init__(self, max_moves: int, window: float) -> None:
        self.max_moves = max_moves
        self.window = window
        self.moves: deque[float] = deque()
        self.latched = False

    def _trim(self, now: float) -> None:
        while self.moves and now - self.moves[0] > self.window:
            self.moves.popleft()

    def allow_repair(self, now: float) -> bool:
        self._trim(now)
        if len(self.moves) >= self.max_moves:
            self.latched = True
        return not self.latched

    def record_repair(self, now: float) -> None:
        self._trim(now)
        self.moves.append(now)

    def transition(self) -> bool:
        """keepalived spoke: start counting afresh. Whether it had latched."""
        was = self.latched
        self.latched = False
        self.moves.clear()
        return was
