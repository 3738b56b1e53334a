"""Maintenance flag and the keepalived health checks. Standard library only: keepalived runs
`awsfailover keepalived-check ...` every second or two, so it must start and answer fast.

The flag lives in failover.state_dir (tmpfs: a reboot clears it, so a node that comes back is
eligible again). While it exists, the `awsfailover_maintenance` vrrp_script fails, keepalived
puts the instance in FAULT, and a MASTER resigns at once (priority 0 advert): the peer takes
over without waiting for the master-down interval.
"""

from __future__ import annotations

from pathlib import Path

from awsfailover import defaults
from awsfailover.config.raw import RawConfigError, load_raw, raw_state_dirs, read_raw
from awsfailover.keepalived import handoff


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
    """Set or clear the flag where keepalived's check reads it."""
    flag = operator_flag_path(config_path)
    if on:
        try:
            flag.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            flag.write_text("maintenance: keepalived steps this node down\n")
        except OSError as exc:
            raise MaintenanceError(f"cannot write {flag}: {exc.strerror or exc}") from None
        return (
            f"maintenance ON ({flag}): keepalived's awsfailover_maintenance check now fails; "
            "a MASTER resigns within one check interval and its peer takes over"
        )
    try:
        flag.unlink(missing_ok=True)
    except OSError as exc:
        raise MaintenanceError(f"cannot remove {flag}: {exc.strerror or exc}") from None
    return f"maintenance OFF ({flag}): this node is eligible for MASTER again"


def in_maintenance(config_path: Path) -> bool:
    return flag_path(config_path).exists()


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
