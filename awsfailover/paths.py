"""Where the config file is. Standard library only: the hook's hand-off path needs it before
anything heavy is imported."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_CONFIG_PATH = Path("/etc/awsfailover/config.toml")
CONFIG_ENV = "AWSFAILOVER_CONFIG"


def resolve_config_path(cli_path: str | None) -> Path:
    if cli_path:
        return Path(cli_path)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG_PATH
