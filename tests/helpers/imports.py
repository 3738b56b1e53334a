"""A hook run under `-X importtime`: what it imported, and its own stderr lines without them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["hook_with_importtime", "imported", "log_lines"]


def hook_with_importtime(
    config: Path, state: str = "MASTER", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-X", "importtime", "-m", "awsfailover", "--config", str(config)]
    cmd += ["notify", "INSTANCE", "VI_1", state, "100"]
    return subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def imported(stderr: str) -> set[str]:
    return {x.split("|")[-1].strip() for x in stderr.splitlines() if x.startswith("import time:")}


def log_lines(stderr: str) -> list[str]:
    return [x for x in stderr.splitlines() if not x.startswith("import time:")]
