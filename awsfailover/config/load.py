"""Load and validate the config: the file (TOML) and the AWSFAILOVER_* environment, into
Settings. Every failure becomes a one-line ConfigError naming the key."""

from __future__ import annotations

import threading
from typing import Any

from pydantic import ValidationError

from awsfailover.config.raw import RawConfigError, load_raw, resolve_config_path
from awsfailover.config.schema import Settings
from awsfailover.errors import ConfigError

__all__ = ["format_validation_error", "load_settings"]

_load_lock = threading.Lock()


def load_settings(cli_path: str | None = None, **overrides: Any) -> Settings:
    """Load and validate; every failure becomes a one-line ConfigError naming the key."""
    path = resolve_config_path(cli_path)
    try:
        doc = load_raw(path)
    except RawConfigError as exc:
        raise ConfigError(str(exc)) from None
    with _load_lock:  # the TOML document is handed to the source through the class
        Settings._toml_doc = doc
        try:
            return Settings(**overrides)
        except ValidationError as exc:
            raise ConfigError(f"config file {path}: {format_validation_error(exc)}") from None
        finally:
            Settings._toml_doc = None


def format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
