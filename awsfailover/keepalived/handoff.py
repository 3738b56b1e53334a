"""Hand a transition from the notify hook to a running agent over a Unix socket.

Standard library only, and no config validation: this path runs on every keepalived
transition and must answer in milliseconds. Anything but a clear "done" from the agent (no
agent, a timeout, an error, an answer we do not understand) means the hook does the work
itself, so a dead, old or misconfigured agent never blocks failover.

Protocol: one request line per connection, `INSTANCE "VI_1" MASTER 100 @<ns>:<pid>` (the
hook's fork stamp, see transition.py); the agent answers `OK <what>` once the transition is
queued or recognised as already overtaken, or `ERR <code> <message>`. The line `HEALTH` asks
for the agent's health instead: `OK <why>` or `ERR 1 <why>` (keepalived's `awsfailover_agent`
check asks here, not on the metrics port: any local user can bind a free TCP port while the
agent is down, but only the agent's user can create this socket).

Whoever answers on the socket can stop a failover ("OK": the hook then does nothing), so the
socket is used only when it is a socket owned by root or by us, in a directory that nobody
else can write to (or a sticky one, where nobody else can replace it).
"""

from __future__ import annotations

import math
import os
import socket
import stat
import time
from pathlib import Path

from awsfailover import defaults

HEALTH = "HEALTH"  # the request line for the agent's health
# Lines this process already offered and the agent did not take (the fast entry tried them
# before loading the CLI): the full hook does not wait for the same answer twice.
TRIED: set[str] = set()


def agent_settings(config_path: Path) -> tuple[Path, float]:
    """(socket path, hand-off timeout) from the environment or a plain TOML read. A timeout
    the validated config would refuse (negative, nan, inf, huge) becomes the default here: the
    hook must reach its fallback whatever the file says."""
    sock, timeout = socket_settings(str(config_path))
    return Path(sock), timeout


def socket_settings(config_path: str) -> tuple[str, float]:
    """agent_settings for the fast entry: strings, and the TOML parser only when needed."""
    agent = _agent_keys(config_path)
    if agent is None:
        from awsfailover.config.raw import read_raw, section

        agent = section(read_raw(Path(config_path)), "agent")
    sock = os.environ.get("AWSFAILOVER_AGENT__SOCKET") or agent.get("socket")
    raw = os.environ.get("AWSFAILOVER_AGENT__HANDOFF_TIMEOUT", agent.get("handoff_timeout"))
    return (sock if isinstance(sock, str) and sock else str(defaults.SOCKET)), _timeout(raw)


_KEYS = ("socket", "handoff_timeout")


def _agent_keys(config_path: str) -> dict[str, object] | None:
    """[agent] socket and handoff_timeout as a plain reading of the common layout sees them
    (`key = "value"` lines under an `[agent]` header), so that the hand-off does not import
    tomllib (and with it typing and datetime). None whenever the file does anything else with
    those keys: the caller then parses it properly. Reading wrong could only cost speed: the
    socket must still be trusted and the agent must still answer OK."""
    try:
        with open(config_path, "rb") as f:  # noqa: PTH123 - no pathlib on this path
            text = f.read(1 << 20).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not any(k in text for k in _KEYS):
        return {}
    if '"""' in text or "'''" in text or "\\" in text:
        return None  # multi-line strings or escapes: only a parser reads those right
    found: dict[str, object] = {}
    table = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            head = line.split("#", 1)[0].strip()
            table = head.strip("[]").strip() if not head.startswith("[[") else "[[array]]"
            continue
        if not any(k in line for k in _KEYS) or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if table != "agent" or key not in _KEYS or not sep:
            return None  # a dotted key, an inline table, the word inside another value
        value = value.strip()
        if key == "socket":
            if not value.startswith('"') or value.count('"') != 2:
                return None
            text_value, _, rest = value[1:].partition('"')
            if rest.strip() and not rest.strip().startswith("#"):
                return None
            found[key] = text_value
        else:
            number = value.split("#", 1)[0].strip()
            try:
                found[key] = float(number)
            except ValueError:
                return None
    return found


def _timeout(value: object) -> float:
    try:
        t = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return defaults.HANDOFF_TIMEOUT
    if not math.isfinite(t) or not 0 < t <= defaults.HANDOFF_TIMEOUT_MAX:
        return defaults.HANDOFF_TIMEOUT
    return t


def untrusted(path: Path | str) -> str | None:
    """Why the socket at path may not be the agent's (None when it may)."""
    try:
        st = os.lstat(path)
        parent = Path(path).absolute().parent.lstat()
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISSOCK(st.st_mode):
        return "not a socket"
    if st.st_uid not in (0, os.geteuid()):
        return f"owned by uid {st.st_uid}, not root or {os.geteuid()}"
    writable = parent.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable and not parent.st_mode & stat.S_ISVTX:
        return f"its directory is writable by others (mode {stat.S_IMODE(parent.st_mode):o})"
    if parent.st_uid not in (0, os.geteuid()):
        return f"its directory is owned by uid {parent.st_uid}"
    return None


def send(path: Path | str, line: str, timeout: float) -> str | None:
    """The agent's `OK ...` answer, or None when the hook must do the work itself."""
    if untrusted(path) is not None:
        return None
    reply = ask(path, line, timeout)
    return reply if reply is not None and reply.startswith("OK") else None


def ask(path: Path | str, line: str, timeout: float) -> str | None:
    """The agent's one-line answer, or None when none came in time. The caller has checked
    the socket with untrusted() (and can say why it would not ask)."""
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
    return reply.decode(errors="replace").strip() if reply.endswith(b"\n") else None
