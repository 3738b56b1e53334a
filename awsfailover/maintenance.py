"""Maintenance flag and the keepalived health checks. Standard library only: keepalived runs
`awsfailover keepalived-check ...` every second or two, so it must start and answer fast.

The flag lives in failover.state_dir (tmpfs: a reboot clears it, so a node that comes back is
eligible again). While it exists, the `awsfailover_maintenance` vrrp_script fails, keepalived
puts the instance in FAULT, and a MASTER resigns at once (priority 0 advert): the peer takes
over without waiting for the master-down interval.
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = Path("/run/awsfailover")
FLAG_NAME = "maintenance"


def _raw_config(config_path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with config_path.open("rb") as fh:
            doc: dict[str, Any] = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return doc


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    return value if isinstance(value, dict) else {}


def flag_path(config_path: Path) -> Path:
    env = os.environ.get("AWSFAILOVER_FAILOVER__STATE_DIR")
    state = env or _section(_raw_config(config_path), "failover").get("state_dir")
    return (Path(state) if isinstance(state, str) else DEFAULT_STATE_DIR) / FLAG_NAME


def metrics_address(config_path: Path) -> str:
    env = os.environ.get("AWSFAILOVER_AGENT__METRICS_ADDRESS")
    value = (
        env
        if env is not None
        else _section(_raw_config(config_path), "agent").get("metrics_address", "127.0.0.1:9108")
    )
    return str(value)


def set_maintenance(config_path: Path, on: bool) -> str:
    flag = flag_path(config_path)
    if on:
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text("maintenance: keepalived steps this node down\n")
        return (
            f"maintenance ON ({flag}): keepalived's awsfailover_maintenance check now fails; "
            "a MASTER resigns within one check interval and its peer takes over"
        )
    flag.unlink(missing_ok=True)
    return f"maintenance OFF ({flag}): this node is eligible for MASTER again"


def in_maintenance(config_path: Path) -> bool:
    return flag_path(config_path).exists()


def agent_healthy(config_path: Path, timeout: float = 1.0) -> tuple[bool, str]:
    addr = metrics_address(config_path)
    if not addr:
        return False, "agent.metrics_address is empty"
    url = f"http://{addr}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200, f"{url}: HTTP {resp.status}"
    except OSError as exc:
        return False, f"{url}: {exc}"
