"""systemd's notify protocol for the agent (`Type=notify`, `WatchdogSec=`), spoken directly.

The protocol is one datagram of newline-separated KEY=VALUE lines to the Unix socket named by
$NOTIFY_SOCKET ("@" for the abstract namespace), as sd_notify(3) documents: a dozen lines of
the standard library, so no dependency. Without $NOTIFY_SOCKET (not under systemd, or
another Type=) every call is a no-op. A failed send is logged at debug and never raised: a
notification must not stop a failover.

What the agent says, and when:
- READY=1 once its FIFO, hand-off socket and EC2 clients are ready;
- RELOADING=1 (with MONOTONIC_USEC) before a SIGHUP reload, READY=1 after it;
- STOPPING=1 when it starts to stop;
- STATUS= each instance's role and its last takeover;
- WATCHDOG=1 from the main loop, every half $WATCHDOG_USEC, so a stuck loop is restarted.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

from awsfailover.agent.events import Event, TakeoverFinished, TransitionEvent

__all__ = ["Notifier", "StatusListener"]

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.address = env.get("NOTIFY_SOCKET") or None
        self.watchdog: float | None = None  # seconds between WATCHDOG=1
        usec = env.get("WATCHDOG_USEC")
        pid = env.get("WATCHDOG_PID")
        if self.address and usec and usec.isdigit() and (not pid or pid == str(os.getpid())):
            self.watchdog = int(usec) / 1e6 / 2  # half the interval, as sd_watchdog_enabled(3)
        self._last_ping = 0.0

    def send(self, *fields: str) -> None:
        if not self.address:
            return
        addr = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto("\n".join(fields).encode(), addr)
        except OSError as exc:
            log.debug("systemd notify %s: %s", self.address, exc)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def reloading(self) -> None:
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def ping_due(self, now: float) -> float | None:
        """Seconds until the next WATCHDOG=1 is due (None without a watchdog)."""
        if self.watchdog is None:
            return None
        return max(0.0, self._last_ping + self.watchdog - now)

    def ping(self, now: float) -> None:
        """WATCHDOG=1 if due: call it from the main loop only, so that it stops when the loop
        is stuck (that is the point)."""
        if self.watchdog is not None and now >= self._last_ping + self.watchdog:
            self._last_ping = now
            self.send("WATCHDOG=1")


class StatusListener:
    """STATUS= for `systemctl status`: each instance's role and its last takeover, sent when
    either changes."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.roles: dict[str, str] = {}
        self.last: dict[str, str] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, TransitionEvent) and event.generation is not None:
            self.roles[event.instance] = event.state
        elif isinstance(event, TakeoverFinished):
            took = f" {event.outcome.seconds:.2f}s" if event.outcome is not None else ""
            self.last[event.instance] = f"{event.reason} {event.result}{took}"
        else:
            return
        if self.notifier.address:
            self.notifier.status(self.text())

    def text(self) -> str:
        return "; ".join(
            f"{name} {self.roles.get(name, 'UNKNOWN')}"
            + (f" (last takeover: {self.last[name]})" if name in self.last else "")
            for name in sorted(set(self.roles) | set(self.last))
        )
