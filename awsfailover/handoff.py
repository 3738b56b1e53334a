"""Hand a transition from the notify hook to a running agent over a Unix socket.

Standard library only, and no config validation: this path runs on every keepalived
transition and must answer in milliseconds. When no agent answers, the caller does the work
itself, so a dead agent never blocks failover.

Protocol: one request line per connection, `INSTANCE "VI_1" MASTER 100`; the agent answers
`OK <ticket>` once the transition is queued, or `ERR <code> <message>`.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from awsfailover.paths import read_raw, section

DEFAULT_SOCKET = Path("/run/awsfailover/agent.sock")
DEFAULT_TIMEOUT = 0.5


def agent_settings(config_path: Path) -> tuple[Path, float]:
    """(socket path, hand-off timeout) from the environment or a plain TOML read."""
    env = os.environ.get("AWSFAILOVER_AGENT__SOCKET")
    timeout = _float(os.environ.get("AWSFAILOVER_AGENT__HANDOFF_TIMEOUT"), DEFAULT_TIMEOUT)
    if env:
        return Path(env), timeout
    agent = section(read_raw(config_path), "agent")
    value = agent.get("socket")
    if "handoff_timeout" in agent:
        timeout = _float(agent["handoff_timeout"], timeout)
    return (Path(value) if isinstance(value, str) else DEFAULT_SOCKET), timeout


def _float(value: object, default: float) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default


def send(path: Path, line: str, timeout: float) -> tuple[int, str] | None:
    """(exit code, message) from the agent, or None when no agent is there to answer."""
    if not path.exists():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        sock.sendall(line.encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    except OSError:
        return None
    finally:
        sock.close()
    text = reply.decode(errors="replace").strip()
    if text.startswith("OK"):
        return 0, text
    if text.startswith("ERR "):
        _, code, *msg = text.split(" ", 2)
        return (int(code) if code.isdigit() else 1), (msg[0] if msg else text)
    return None
