"""keepalived's notify FIFO, read safely: checked ownership, bounded lines, linear parsing,
reopened when replaced.

Whoever can write the FIFO can move the VIP, so an existing FIFO must belong to root (or the
agent's user) and be writable by nobody else. A line longer than MAX_LINE is junk: it is
dropped as it streams in (never buffered whole), with one log line per burst. The FIFO is
opened read-write so keepalived restarting never gives us EOF; if someone replaces the path
(a new FIFO, a restarted keepalived re-creating it), the reader notices and reopens.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from awsfailover import defaults
from awsfailover.errors import ConfigError

log = logging.getLogger(__name__)

LineHandler = Callable[[bytes], None]


def check_fifo(path: Path) -> os.stat_result:
    """The FIFO's stat, or ConfigError when it is not one we may trust."""
    st = path.lstat()  # lstat: a symlink to somewhere else is not our FIFO
    if not stat.S_ISFIFO(st.st_mode):
        raise ConfigError(f"agent.fifo: {path} exists and is not a FIFO")
    if st.st_uid not in (0, os.geteuid()):
        raise ConfigError(
            f"agent.fifo: {path} is owned by uid {st.st_uid}, not root or this agent: "
            "whoever writes it moves the VIP; remove it and let the agent create it"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError(
            f"agent.fifo: {path} is writable by group or others (mode "
            f"{stat.S_IMODE(st.st_mode):o}): whoever writes it moves the VIP; chmod 600 it"
        )
    return st


def open_fifo(path: Path) -> int:
    """Create (0600) if missing, check, open non-blocking read-write."""
    if not path.exists() and not path.is_symlink():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        old = os.umask(0o177)
        try:
            os.mkfifo(path, 0o600)
        except FileExistsError:
            pass
        finally:
            os.umask(old)
    st = check_fifo(path)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW)
    fst = os.fstat(fd)
    if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):  # swapped between check and open
        os.close(fd)
        raise ConfigError(f"agent.fifo: {path} changed while it was being opened")
    return fd


class FifoReader:
    """Reads lines; `pump()` is also called by the hand-off path (under the same lock) so
    that every line keepalived wrote before a hook arrived is handled before that hook."""

    def __init__(self, path: Path, on_line: LineHandler, lock: threading.RLock) -> None:
        self.path = path
        self.on_line = on_line
        self.lock = lock
        self.fd = open_fifo(path)
        self._buf = bytearray()
        self._discarding = False
        self.dropped = 0
        self._dropped_logged = 0.0
        self.replaced = 0

    def close(self) -> None:
        with self.lock:
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1

    def pump(self) -> None:
        """Handle everything readable now; never blocks."""
        with self.lock:
            while self.fd >= 0:
                try:
                    chunk = os.read(self.fd, 65536)
                except (BlockingIOError, InterruptedError):
                    return
                if not chunk:
                    return
                self._feed(chunk)

    def _feed(self, chunk: bytes) -> None:
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                if not self._discarding:
                    self._buf += chunk[start:]
                    if len(self._buf) > defaults.MAX_LINE:
                        self._buf.clear()
                        self._discarding = True
                        self._junk()
                return
            if self._discarding:
                self._discarding = False
            else:
                line = bytes(self._buf) + chunk[start:nl]
                self._buf.clear()
                if len(line) > defaults.MAX_LINE:
                    self._junk()
                else:
                    self.on_line(line)
            start = nl + 1

    def _junk(self) -> None:
        self.dropped += 1
        now = time.monotonic()
        if now - self._dropped_logged > 10:
            self._dropped_logged = now
            log.warning(
                "fifo %s: dropped a line longer than %d bytes (%d so far)",
                self.path,
                defaults.MAX_LINE,
                self.dropped,
            )

    def same_file(self) -> bool:
        try:
            st = self.path.lstat()
            fst = os.fstat(self.fd)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino)

    def reopen_if_replaced(self) -> None:
        """The path now names another file (or none): read what is left in the old one, then
        open (or create) the path again. A path that fails the checks leaves us unhealthy."""
        if self.same_file():
            return
        with self.lock:
            self.pump()
            try:
                fd = open_fifo(self.path)
            except (ConfigError, OSError) as exc:
                log.error("fifo %s was replaced and cannot be reopened: %s", self.path, exc)
                return
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = fd
            self._buf.clear()
            self._discarding = False
            self.replaced += 1
        log.warning("fifo %s was replaced; reopened it", self.path)
