"""keepalived's order of transitions, and one sequence per instance that every path obeys.

Where the order comes from (never from arrival order):

- a notify hook is a process keepalived forked for that transition, and keepalived forks them
  one after another. So a hook's place is its *fork stamp*: the process start time the kernel
  recorded (clock ticks since boot, `/proc/self/stat`), then its PID within the same tick.
  A hook that took 0.5 s to import still sorts where keepalived put it;
- keepalived writes `vrrp_notify_fifo` lines in order, so a FIFO line's place is when the agent
  read it (CLOCK_BOOTTIME, the clock the start time is measured on), after every earlier line.

Both meet in one sequence file per instance in `failover.state_dir`: `boot-id ns pid STATE`.
`advance(stamp, state)` writes under a lock only when the stamp is newer than the file's; a
stamp that is not newer is a transition that has already been overtaken (or a duplicate of the
FIFO line the agent already acted on) and must not act. Every MASTER's executor checks before
each mutating call that the file still holds its stamp, so a newer BACKUP or MASTER, from the
hook or from the agent, stops an older MASTER in flight.

A state_dir that cannot be written (read-only, full) falls back to `fallback_state_dir`, then to
order kept in this process only, each with a loud warning: failover must never stop because of
a file.

Whoever can write a sequence file can stop a MASTER or make an agent follow a transition
keepalived never made. So a directory is used only when it is a real directory (not a symlink),
owned by this process's effective user and writable by nobody else; every file in it is opened
without following symlinks; and a record that cannot be read (not ASCII, torn, from another
boot) is no record at all.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from awsfailover.config.raw import trusted_dir
from awsfailover.core.backoff import LOCK_WAIT, Backoff
from awsfailover.core.deadline import Deadline
from awsfailover.errors import FailoverIncomplete, Superseded
from awsfailover.keepalived.stamp import FIFO_PID, Stamp, now_stamp, process_stamp

__all__ = [
    "FIFO_PID",
    "ZERO",
    "Record",
    "Sequence",
    "Stamp",
    "format_stamp",
    "now_stamp",
    "process_stamp",
    "trusted_dir",
]

log = logging.getLogger(__name__)

ZERO: Stamp = (0, 0)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or "-"
    except OSError:
        return "-"


_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def format_stamp(stamp: Stamp) -> str:
    return f"{stamp[0] / 1e9:.3f}s/{'fifo' if stamp[1] == FIFO_PID else stamp[1]}"


@dataclass(frozen=True)
class Record:
    stamp: Stamp
    state: str


class Sequence:
    """One instance's transition sequence, shared by the hook and the agent."""

    # per process, when no directory works; keyed by the directories too, so two agents in
    # one process (tests) never share a sequence
    _memory: dict[tuple[tuple[Path, ...], str], Record] = {}  # noqa: RUF012
    _memory_lock = threading.Lock()

    def __init__(self, instance: str, state_dir: Path, fallback_dir: Path | None = None) -> None:
        self.instance = instance
        self._dirs = [d for d in (state_dir, fallback_dir) if d is not None]
        self._key = (tuple(self._dirs), instance)
        self.dir: Path | None = None
        self._boot = _boot_id()
        self._pick(0)

    # --- where the files live ------------------------------------------------------------

    def _pick(self, start: int) -> None:
        for i, d in enumerate(self._dirs[start:], start):
            try:
                d.mkdir(mode=0o700, parents=True, exist_ok=True)
                why = trusted_dir(d)
                if why is None:
                    fd = os.open(
                        d / f"{self.instance}.seqlock", os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600
                    )
                    os.close(fd)
            except OSError as exc:
                why = exc.strerror or str(exc)
            if why is not None:
                log.warning(
                    "%s: state dir %s unusable (%s)%s",
                    self.instance,
                    d,
                    why,
                    "; trying the next" if i + 1 < len(self._dirs) else "",
                )
                continue
            if i > 0:
                log.warning(
                    "%s: USING FALLBACK state dir %s: fix %s (transitions from processes that "
                    "still see it are not ordered against these)",
                    self.instance,
                    d,
                    self._dirs[0],
                )
            self.dir = d
            return
        self.dir = None
        log.error(
            "%s: NO WRITABLE STATE DIR (%s): failing over anyway, but transitions are only "
            "ordered within this process",
            self.instance,
            ", ".join(map(str, self._dirs)),
        )

    def _path(self, suffix: str) -> Path:
        assert self.dir is not None
        return self.dir / f"{self.instance}.{suffix}"

    # --- the sequence --------------------------------------------------------------------

    def _parse(self, text: str) -> Record | None:
        parts = text.split()
        if len(parts) != 4 or parts[0] != self._boot:
            return None  # empty, torn by an old version, or from before a reboot
        try:
            return Record((int(parts[1]), int(parts[2])), parts[3])
        except ValueError:
            return None

    def current(self) -> Record | None:
        if self.dir is None:
            with self._memory_lock:
                return self._memory.get(self._key)
        try:
            fd = os.open(self._path("seq"), os.O_RDONLY | _NOFOLLOW)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as f:
                raw = f.read(256)  # a record is under 80 bytes
            return self._parse(raw.decode("ascii"))
        except (OSError, UnicodeDecodeError):
            log.warning("%s: unreadable record in %s ignored", self.instance, self.dir)
            return None

    def advance(self, stamp: Stamp, state: str) -> bool:
        """Record (stamp, state) if it is newer than what the file holds; False when a newer
        transition is already recorded (this one has been overtaken and must not act)."""
        while self.dir is not None:
            try:
                return self._advance_file(stamp, state)
            except OSError as exc:
                log.warning("%s: cannot write %s: %s", self.instance, self.dir, exc)
                self._pick(self._dirs.index(self.dir) + 1)
        with self._memory_lock:
            cur = self._memory.get(self._key)
            if cur is not None and stamp <= cur.stamp:
                return False
            self._memory[self._key] = Record(stamp, state)
            return True

    def _advance_file(self, stamp: Stamp, state: str) -> bool:
        fd = os.open(self._path("seqlock"), os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            cur = self.current()
            if cur is not None and stamp <= cur.stamp:
                return False
            tmp = self._path(f"seq.tmp{os.getpid()}.{threading.get_ident()}")
            tmp.unlink(missing_ok=True)  # ours by name: a leftover of a killed writer
            try:
                out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
                with os.fdopen(out, "w") as f:
                    f.write(f"{self._boot} {stamp[0]} {stamp[1]} {state}\n")
                tmp.replace(self._path("seq"))  # atomic: readers never see a torn record
            except OSError:
                tmp.unlink(missing_ok=True)
                raise
            return True
        finally:
            os.close(fd)

    def is_current(self, stamp: Stamp) -> bool:
        cur = self.current()
        return cur is None or cur.stamp == stamp

    def check(self, stamp: Stamp) -> None:
        cur = self.current()
        if cur is not None and cur.stamp != stamp:
            raise Superseded(
                f"{self.instance}: transition {format_stamp(stamp)} superseded by "
                f"{cur.state} {format_stamp(cur.stamp)}"
            )

    @contextmanager
    def exclusive(self, stamp: Stamp, timeout: float) -> Iterator[None]:
        """Hold the instance lock; give up when superseded or after timeout seconds."""
        if self.dir is None:
            self.check(stamp)
            yield
            return
        lock_path = self._path("lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o600)
        try:
            deadline = Deadline(timeout)
            backoff = Backoff(LOCK_WAIT)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    self.check(stamp)
                    if deadline.expired():
                        raise FailoverIncomplete(
                            f"{self.instance}: lock {lock_path} held for over {timeout:.0f}s"
                        ) from None
                    backoff.sleep()
            self.check(stamp)
            yield
        finally:
            os.close(fd)
