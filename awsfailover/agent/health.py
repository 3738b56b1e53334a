"""The agent's health, as /healthz, `keepalived-check agent` and the health events see it:
the FIFO still read, a recent successful reconcile, and the last EC2 call answered."""

from __future__ import annotations

import time
from collections.abc import Callable

from awsfailover.agent.events import HealthChanged
from awsfailover.keepalived.fifo import FifoReader

__all__ = ["HealthChanges", "judge_health"]


class HealthChanges:
    """The verdicts worth an event: the first, then each flip between healthy and not."""

    def __init__(self) -> None:
        self.last: tuple[bool, str] | None = None

    def seen(self, ok: bool, why: str) -> HealthChanged | None:
        flipped = self.last is None or self.last[0] != ok
        self.last = (ok, why)
        return HealthChanged(ok, why) if flipped else None

    def tell(self, verdict: tuple[bool, str], emit: Callable[[HealthChanged], None]) -> None:
        if (changed := self.seen(*verdict)) is not None:
            emit(changed)


def judge_health(
    fifo: FifoReader | None,
    last_reconcile_ok: float | None,
    health_age: float,
    last_ec2_error: str | None,
    keepalived_gone: str | None = None,
) -> tuple[bool, str]:
    if keepalived_gone is not None:
        return False, f"keepalived is not running ({keepalived_gone}): role unknown, not repairing"
    if fifo is not None and not fifo.same_file():
        return False, f"fifo {fifo.path} was replaced or removed and is not read"
    if last_reconcile_ok is None:
        return False, "no successful reconcile yet"
    age = time.monotonic() - last_reconcile_ok
    if age > health_age:
        return False, f"last successful reconcile {age:.0f}s ago (EC2 unreachable?)"
    if last_ec2_error is not None:
        return False, f"last EC2 call failed ({last_ec2_error})"
    return True, f"ok; last reconcile {age:.1f}s ago"
