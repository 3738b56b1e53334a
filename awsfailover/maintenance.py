"""Maintenance flag and the keepalived health checks. Standard library only: keepalived runs
`awsfailover keepalived-check ...` every second or two, so it must start and answer fast.

The flag lives in failover.state_dir (tmpfs: a reboot clears it, so a node that comes back is
eligible again). While it exists, the `awsfailover_maintenance` vrrp_script fails, keepalived
puts the instance in FAULT, and a MASTER resigns at once (priority 0 advert): the peer takes
over without waiting for the master-down interval.
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from awsfailover.paths import read_raw, section

DEFAULT_STATE_DIR = Path("/run/awsfailover")
FLAG_NAME = "maintenance"


def flag_path(config_path: Path) -> Path:
    env = os.environ.get("AWSFAILOVER_FAILOVER__STATE_DIR")
    state = env or section(read_raw(config_path), "failover").get("state_dir")
    return (Path(state) if isinstance(state, str) else DEFAULT_STATE_DIR) / FLAG_NAME


def metrics_address(config_path: Path) -> str:
    env = os.environ.get("AWSFAILOVER_AGENT__METRICS_ADDRESS")
    value = (
        env
        if env is not None
        else section(read_raw(config_path), "agent").get("metrics_address", "127.0.0.1:9108")
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
