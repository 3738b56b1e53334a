"""Hand a transition from the notify hook to a running agent over a Unix socket.

Standard library only, and no config validation: this path runs on every keepalived
transition and must answer in milliseconds. Anything but a clear "done" from the agent (no
agent, a timeout, an error, an answer we do not understand) means the hook does the work
itself, so a dead, old or misconfigured agent never blocks failover.

Protocol: one request line per connection, `INSTANCE "VI_1" MASTER 100 @<ns>:<pid>` (the
hook's fork stamp, see transition.py); the agent answers `OK <what>` once the transition is
queued or recognised as already overtaken, or `ERR <code> <message>`.
"""

from __future__ import annotations

import math
import os
import socket
import time
from pathlib import Path

from awsfailover import defaults
from awsfailover.config.raw import read_raw, section


def agent_settings(config_path: Path) -> tuple[Path, float]:
    """(socket path, hand-off timeout) from the environment or a plain TOML read. A timeout
    the validated config would refuse (negative, nan, inf, huge) becomes the default here: the
    hook must reach its fallback whatever the file says."""
    agent = section(read_raw(config_path), "agent")
    sock = os.environ.get("AWSFAILOVER_AGENT__SOCKET") or agent.get("socket")
    raw = os.environ.get("AWSFAILOVER_AGENT__HANDOFF_TIMEOUT", agent.get("handoff_timeout"))
    return (Path(sock) if isinstance(sock, str) and sock else defaults.SOCKET), _timeout(raw)


def _timeout(value: object) -> float:
    try:
        t = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return defaults.HANDOFF_TIMEOUT
    if not math.isfinite(t) or not 0 < t <= defaults.HANDOFF_TIMEOUT_MAX:
        return defaults.HANDOFF_TIMEOUT
    return t


def send(path: Path, line: str, timeout: float) -> str | None:
    """The agent's `OK ...` answer, or None when the hook must do the work itself."""
    end = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(line.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n") and len(reply) < defaults.MAX_LINE:
            left = end - time.monotonic()
            if left <= 0:
                return None
            sock.settimeout(left)
            chunk = sock.recv(defaults.MAX_LINE)
            if not chunk:
                break
            reply += chunk
    except OSError:  # absent, refused, not permitted (non-root hook), timed out
        return None
    finally:
        sock.close()
    text = reply.decode(errors="replace").strip()
    return text if text.startswith("OK") else None
