"""The FIFO channel: read keepalived's notify FIFO as lines arrive, and reopen it when the
path is replaced (checked every REOPEN_CHECK seconds). Stops when the agent's stop fd
becomes readable."""

from __future__ import annotations

import selectors
import threading
import time
from pathlib import Path

from awsfailover.errors import ConfigError
from awsfailover.keepalived.fifo import FifoReader, LineHandler

__all__ = ["REOPEN_CHECK", "open_fifo", "read_fifo"]

REOPEN_CHECK = 1.0  # seconds between checks that the FIFO's path still names our FIFO


def open_fifo(path: Path, on_line: LineHandler, lock: threading.RLock) -> FifoReader:
    try:
        return FifoReader(path, on_line, lock)
    except OSError as exc:
        raise ConfigError(f"agent.fifo: cannot open {path}: {exc}") from exc


def read_fifo(reader: FifoReader, stop_fd: int) -> None:
    sel = selectors.DefaultSelector()
    fd = reader.fd
    sel.register(fd, selectors.EVENT_READ, "fifo")
    sel.register(stop_fd, selectors.EVENT_READ, "stop")
    next_check = time.monotonic() + REOPEN_CHECK
    try:
        while True:
            ready = sel.select(timeout=max(0.0, next_check - time.monotonic()))
            if any(key.data == "stop" for key, _ in ready):
                return
            if ready:
                reader.pump()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + REOPEN_CHECK
                reader.reopen_if_replaced()
                if reader.fd != fd and reader.fd >= 0:
                    sel.unregister(fd)
                    fd = reader.fd
                    sel.register(fd, selectors.EVENT_READ, "fifo")
    finally:
        sel.close()
        reader.close()
