"""Whether this node's keepalived is alive, from its pid file. Standard library only.

The agent reads keepalived's FIFO opened read-write, so it never sees keepalived go away: an
agent that outlives a killed keepalived would go on repairing as MASTER while the peer's
keepalived, now MASTER, moves everything back, and the two agents would trade the VIP every
reconcile. So the agent asks here before it repairs anything.

keepalived writes its parent's pid to its pid file (`-p`, default /run/keepalived.pid) and
removes it on a clean stop. Three answers:

- alive: the file names a running process called keepalived;
- gone: the file names no such process (a kill, an OOM: the file stays behind), or the file
  is gone after keepalived was once seen alive;
- not watched: no file and never seen (an agent started before keepalived, or run without
  it): nothing is known, so nothing changes.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["KeepalivedWatch"]


class KeepalivedWatch:
    def __init__(self, pidfile: Path) -> None:
        self.pidfile = pidfile
        self.seen = False

    def check(self) -> tuple[bool | None, str]:
        """(True: alive, False: gone, None: not watched), and why."""
        try:
            fd = os.open(self.pidfile, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                raw = f.read(32)
        except FileNotFoundError:
            if self.seen:
                return False, f"{self.pidfile} was removed"
            return None, f"{self.pidfile} does not exist (keepalived not seen yet)"
        except OSError as exc:
            return (False if self.seen else None), f"{self.pidfile}: {exc.strerror or exc}"
        try:
            pid = int(raw.strip() or b"-")
        except ValueError:
            return False, f"{self.pidfile} holds no pid"
        try:
            comm = Path(f"/proc/{pid}/comm").read_text(errors="replace").strip()
        except OSError:
            return False, f"pid {pid} from {self.pidfile} is not running"
        if comm != "keepalived":
            return False, f"pid {pid} from {self.pidfile} is {comm!r}, not keepalived"
        self.seen = True
        return True, f"keepalived pid {pid}"
