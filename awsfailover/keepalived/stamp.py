"""A hook's place in keepalived's order: when keepalived forked it. Standard library only (os,
time): the hand-off computes it before anything else is imported."""

from __future__ import annotations

import os
import time

__all__ = ["FIFO_PID", "Stamp", "now_stamp", "process_stamp"]

Stamp = tuple[int, int]  # (nanoseconds since boot, pid)
# A FIFO line read at t sorts after every hook forked in the same nanosecond.
FIFO_PID = 1 << 31


def now_stamp() -> Stamp:
    """A FIFO line (or an agent start-up decision) read now."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME), FIFO_PID


def process_stamp() -> Stamp:
    """When keepalived forked this process. Cheap: one read of /proc, no imports."""
    try:
        with open("/proc/self/stat", "rb") as f:  # noqa: PTH123 - no pathlib on this path
            raw = f.read()
        # comm (field 2) may hold spaces and parentheses: split after the last ')'.
        ticks = int(raw.rsplit(b")", 1)[1].split()[19])
        return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK"), os.getpid()
    except (OSError, ValueError, IndexError):
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME), os.getpid()
