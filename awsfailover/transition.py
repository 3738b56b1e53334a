"""Serialise transitions per instance, and let a newer one supersede an older one in flight.

keepalived may start the hook again (BACKUP, then MASTER again) while an earlier hook is still
talking to EC2. Each transition takes a ticket from a per-instance sequence file; the executor
checks before every mutating call that its ticket is still the newest. So a stale MASTER stops
before it can undo the move a later MASTER made elsewhere, and a BACKUP never waits for a lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from awsfailover.errors import ConfigError, FailoverIncomplete, Superseded


class Transitions:
    def __init__(self, state_dir: Path, instance: str) -> None:
        self.instance = instance
        try:
            state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"failover.state_dir: cannot create {state_dir}: {exc}") from exc
        self.seq_path = state_dir / f"{instance}.seq"
        self.lock_path = state_dir / f"{instance}.lock"

    def _read(self) -> int:
        try:
            return int(self.seq_path.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def begin(self) -> int:
        """Take the next ticket; from now on every older ticket is stale."""
        fd = os.open(self.seq_path.with_suffix(".seqlock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            ticket = self._read() + 1
            tmp = self.seq_path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(str(ticket))
            tmp.replace(self.seq_path)  # atomic: readers never see a torn number
            return ticket
        finally:
            os.close(fd)

    def is_current(self, ticket: int) -> bool:
        return self._read() == ticket

    def check(self, ticket: int) -> None:
        if not self.is_current(ticket):
            raise Superseded(f"{self.instance}: transition {ticket} superseded by {self._read()}")

    @contextmanager
    def exclusive(self, ticket: int, timeout: float) -> Iterator[None]:
        """Hold the instance lock; give up when superseded or after timeout seconds."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            end = time.monotonic() + timeout
            delay = 0.005
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    self.check(ticket)
                    if time.monotonic() >= end:
                        raise FailoverIncomplete(
                            f"{self.instance}: lock {self.lock_path} held for over {timeout:.0f}s"
                        ) from None
                    time.sleep(delay)
                    delay = min(delay * 2, 0.1)
            self.check(ticket)
            yield
        finally:
            os.close(fd)
