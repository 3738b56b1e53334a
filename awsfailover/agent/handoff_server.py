"""The hand-off socket: a hook connects, writes one keepalived line, and reads the agent's
answer (`OK generation N`, `OK overtaken`, or `ERR 2 reason`). The line and its replies are a
format old hooks rely on during a rolling upgrade: they do not change. `HEALTH` asks for the
agent's health (keepalived's `awsfailover_agent` check): `OK why` or `ERR 1 why`.

Several hooks are served at once (keepalived forks one per instance and state), each read
bounded by a second and MAX_LINE bytes, so one slow or hostile client delays nobody else.
One agent per socket: a lock held for the agent's lifetime, plus a probe for an agent that
answers without holding it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import socket
import stat
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from awsfailover import defaults
from awsfailover.errors import ConfigError
from awsfailover.keepalived.handoff import HEALTH
from awsfailover.keepalived.protocol import Transition, parse_line

__all__ = ["HandoffServer"]

log = logging.getLogger(__name__)

READ_TIMEOUT = 1.0  # seconds a hook has to send its line
CONCURRENT_HOOKS = 8  # connections answered at once; more wait in the listen backlog


class HandoffServer:
    def __init__(
        self,
        path: Path,
        answer: Callable[[Transition], str],
        stop_fd: int,
        failed: Callable[[BaseException], None] = lambda _exc: None,
        health: Callable[[], tuple[bool, str]] = lambda: (True, "ok"),
    ) -> None:
        self.path = path
        self.health = health
        self.answer = answer
        self.failed = failed
        self.stop_fd = stop_fd
        self._lock_fd: int | None = None
        self._sock: socket.socket | None = None
        self._pool = ThreadPoolExecutor(CONCURRENT_HOOKS, thread_name_prefix="handoff")

    def open(self) -> None:
        try:
            self._claim()
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(self.path.lstat().st_mode):
                    self.path.unlink()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)  # born 0600: no window where others could connect
            try:
                sock.bind(str(self.path))
            finally:
                os.umask(old)
            self.path.chmod(0o600)
            sock.listen(64)
        except OSError as exc:
            raise ConfigError(f"agent.socket: cannot listen on {self.path}: {exc}") from exc
        self._sock = sock

    def _claim(self) -> None:
        """One agent per socket: a second one would steal the socket and orphan the first
        (whose /healthz would still say 200)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"agent.socket: another agent is running on {self.path} (holds {lock_path})"
            ) from None
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(0.5)
        try:
            probe.connect(str(self.path))
        except OSError:
            pass
        else:
            os.close(fd)
            raise ConfigError(f"agent.socket: another agent answers on {self.path}")
        finally:
            probe.close()
        self._lock_fd = fd

    def serve(self) -> None:
        """Accept until stop is requested; each connection is answered on the pool."""
        sock = self._sock
        if sock is None:
            return
        sock.setblocking(False)
        while True:
            try:
                ready, _, _ = select.select([sock.fileno(), self.stop_fd], [], [])
            except (OSError, ValueError):
                return  # closed under us: stopping
            if self.stop_fd in ready:
                return
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                continue
            except OSError:
                return
            try:
                self._pool.submit(self._serve_one, conn)
            except RuntimeError:  # the pool is shut down: stopping
                conn.close()
                return

    def _serve_one(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.setblocking(True)
                conn.sendall(self._reply(conn).encode())
            except OSError as exc:
                log.debug("hand-off connection: %s", exc)

    def _reply(self, conn: socket.socket) -> str:
        end = time.monotonic() + READ_TIMEOUT
        data = b""
        while not data.endswith(b"\n") and len(data) <= defaults.MAX_LINE:
            conn.settimeout(max(0.01, end - time.monotonic()))
            chunk = conn.recv(defaults.MAX_LINE + 1)
            if not chunk:
                break
            data += chunk
        if data.strip() == HEALTH.encode():
            ok, why = self.health()
            return f"OK {why}\n" if ok else f"ERR 1 {why}\n"
        t = parse_line(data.decode(errors="replace")) if len(data) <= defaults.MAX_LINE else None
        if t is None:
            return "ERR 2 expected TYPE NAME STATE [PRIORITY] [@NS:PID]\n"
        try:
            return f"OK {self.answer(t)}\n"
        except ConfigError as exc:
            return f"ERR 2 {exc}\n"
        except Exception as exc:  # the hook then does the work itself; the agent goes on
            self.failed(exc)
            return f"ERR 1 {type(exc).__name__}\n"

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            with contextlib.suppress(OSError):
                self.path.unlink()
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
