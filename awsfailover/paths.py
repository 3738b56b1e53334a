"""Where the config file is. Standard library only: the hook's hand-off path needs it before
anything heavy is imported."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_CONFIG_PATH = Path("/etc/awsfailover/config.toml")
CONFIG_ENV = "AWSFAILOVER_CONFIG"


def resolve_config_path(cli_path: str | None) -> Path:
    if cli_path:
        return Path(cli_path)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG_PATH


def read_raw(path: Path) -> dict[str, Any]:
    """The config as plain TOML, unvalidated; {} when unreadable (the full path reports why).
    For the hook's hand-off and keepalived's checks, which must not import pydantic."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            doc: dict[str, Any] = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    return doc


def section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    return value if isinstance(value, dict) else {}
