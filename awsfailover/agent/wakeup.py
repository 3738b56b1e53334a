"""One wake-up for the agent's main loop: signals, reload, stop and the reconcile tick.

A signal handler, or any thread, only adds a reason and writes one byte to a pipe: no lock is
taken, so a handler can never deadlock the loop it interrupts (gunicorn's arbiter does the
same). The main loop sleeps in select() on that pipe until a reason arrives or its next tick
is due. Stopping also writes to a second pipe that is never drained: every other loop of the
agent (the FIFO reader, the hand-off server) selects on it and wakes at once, instead of
polling a flag.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal

__all__ = ["Wakeup"]


class Wakeup:
    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        self._stop_r, self._stop_w = os.pipe()
        for fd in (self._r, self._w, self._stop_r, self._stop_w):
            os.set_blocking(fd, False)
        self._pending: set[str] = set()  # set.add and set.pop are atomic under the GIL
        self.stopping = False

    @property
    def stop_fd(self) -> int:
        """Readable from the moment stop is requested, for ever."""
        return self._stop_r

    def request(self, reason: str) -> None:
        if reason == "stop" and not self.stopping:
            self.stopping = True
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._stop_w, b"s")
        self._pending.add(reason)
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._w, b"\0")  # a full pipe already wakes the loop

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop, SIGHUP reloads: the handlers only request."""
        signal.signal(signal.SIGTERM, lambda *_: self.request("stop"))
        signal.signal(signal.SIGINT, lambda *_: self.request("stop"))
        signal.signal(signal.SIGHUP, lambda *_: self.request("reload"))

    def wait(self, timeout: float) -> set[str]:
        """The reasons requested since the last wait; empty when the timeout came first."""
        if not self._pending:
            with contextlib.suppress(InterruptedError):
                select.select([self._r, self._stop_r], [], [], max(0.0, timeout))
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._r, 4096):
                pass
        reasons: set[str] = set()
        while self._pending:
            reasons.add(self._pending.pop())
        if self.stopping:
            reasons.add("stop")
        return reasons

    def close(self) -> None:
        for fd in (self._r, self._w, self._stop_r, self._stop_w):
            with contextlib.suppress(OSError):
                os.close(fd)
