"""A monotonic deadline, shared by every step of one takeover (or one preflight command)."""

from __future__ import annotations

import time

__all__ = ["CONFIRM_GRACE", "Deadline"]

# Seconds past a takeover's deadline that finishing what it started may take (confirming a
# success, returning a released IPv6 address): every takeover ends within deadline + 1 s.
CONFIRM_GRACE = 0.8


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.end = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def extended(self, grace: float) -> Deadline:
        """A deadline ending `grace` seconds after this one (measured from this one's end, so
        extensions in a row do not add up)."""
        return Deadline(max(0.0, self.end + grace - time.monotonic()))
