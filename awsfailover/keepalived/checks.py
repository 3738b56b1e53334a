"""Maintenance flag and the agent's health, as keepalived reads them. Standard library only:
keepalived's legacy `vrrp_script` wiring runs `awsfailover keepalived-check ...` every second
or two, so that path must start and answer fast.

Both are keepalived track files in failover.state_dir (tmpfs: a reboot clears them, so a node
that comes back is eligible again): a number, read the way keepalived reads it. While the
maintenance file holds a non-zero number keepalived puts the instance in FAULT, and a MASTER
resigns at once (priority 0 advert): the peer takes over without waiting for the master-down
interval. The agent writes its health file; a non-zero value costs the node 50 priority.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from awsfailover import defaults
from awsfailover.config.raw import RawConfigError, load_raw, raw_state_dirs, read_raw
from awsfailover.keepalived import handoff

_LEADING_INT = re.compile(r"\s*([-+]?\d+)")


def tracker_value(path: Path) -> int:
    """The number keepalived's track_file reads from path: its leading integer; 0 when the
    file is missing or starts with anything else (as keepalived reads it)."""
    try:
        text = path.read_text(errors="replace")[:64]
    except OSError:
        return 0
    m = _LEADING_INT.match(text)
    return int(m.group(1)) if m else 0


def write_tracker(path: Path, value: int) -> None:
    """Replace path's number at once (a temporary file renamed over it: keepalived's inotify
    sees one complete value, never an empty file half-written). Raises OSError."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{value}\n")
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def flag_path(config_path: Path) -> Path:
    """Where keepalived's check looks (it must answer, whatever the file holds)."""
    dirs = raw_state_dirs(read_raw(config_path))
    return (dirs[0] if dirs is not None else defaults.STATE_DIR) / defaults.MAINTENANCE_FLAG


class MaintenanceError(Exception):
    """The flag could not be set where keepalived's check reads it."""


def operator_flag_path(config_path: Path) -> Path:
    """The flag as the operator's commands (on, off, status) see it. Strict where the check is
    lenient: a mistyped --config, a file that is not TOML or a relative state_dir would put
    the flag where the check never looks (the check falls back to the default), so those are
    refused, never reported as ON or OFF."""
    try:
        doc = load_raw(config_path)
    except RawConfigError as exc:
        raise MaintenanceError(
            f"{exc}; keepalived's check reads the config it was rendered with "
            "(pass the same --config)"
        ) from None
    dirs = raw_state_dirs(doc)
    if dirs is None:
        raise MaintenanceError(
            f"config file {config_path}: failover.state_dir must be an absolute path"
        )
    return dirs[0] / defaults.MAINTENANCE_FLAG


def set_maintenance(config_path: Path, on: bool) -> str:
    """Set or clear the flag where keepalived's tracker (or legacy check) reads it."""
    flag = operator_flag_path(config_path)
    try:
        if on:
            flag.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if on or flag.exists():
            write_tracker(flag, 1 if on else 0)
    except OSError as exc:
        raise MaintenanceError(f"cannot write {flag}: {exc.strerror or exc}") from None
    if on:
        return (
            f"maintenance ON ({flag}): keepalived puts this node's instances in FAULT; "
            "a MASTER resigns at once and its peer takes over"
        )
    return f"maintenance OFF ({flag}): this node is eligible for MASTER again"


def maintenance_on(flag: Path) -> bool:
    return tracker_value(flag) != 0


def in_maintenance(config_path: Path) -> bool:
    return maintenance_on(flag_path(config_path))


def agent_healthy(config_path: Path, timeout: float = 1.0) -> tuple[bool, str]:
    """The agent's own answer on its 0600 hand-off socket: only the agent's user can create
    that socket, while anyone can bind the metrics port when the agent is down."""
    path, _ = handoff.agent_settings(config_path)
    why = handoff.untrusted(path)
    if why is not None:
        return False, f"agent socket {path}: {why}"
    reply = handoff.ask(path, handoff.HEALTH, timeout)
    if reply is None:
        return False, f"agent socket {path}: no answer within {timeout:.1f}s"
    if reply.startswith("OK"):
        return True, f"agent: {reply[3:]}"
    if reply.startswith("ERR 2 expected"):
        return False, "the agent is older than this check: restart it"
    return False, f"agent: {reply}"
