"""Load and validate the config: the file (TOML) and the AWSFAILOVER_* environment, into
Settings. Every failure becomes a one-line ConfigError naming the key."""

from __future__ import annotations

import os
import re
import threading
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

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
            text = format_validation_error(exc)
            where = "environment" if text.startswith(ENV_PREFIX) else f"config file {path}"
            raise ConfigError(f"{where}: {text}") from None
        except SettingsError as exc:  # an environment value that is not even JSON
            raise ConfigError(f"environment: {_undecodable(exc)}") from None
        finally:
            Settings._toml_doc = None


ENV_PREFIX = "AWSFAILOVER_"


def _env_name(loc: tuple[int | str, ...]) -> str | None:
    """The AWSFAILOVER_* variable a value at loc came from, if one is set: the longest of
    AWSFAILOVER_A__B__C, AWSFAILOVER_A__B, AWSFAILOVER_A."""
    keys = [str(p).upper() for p in loc if isinstance(p, str)]
    for k in range(len(keys), 0, -1):
        name = ENV_PREFIX + "__".join(keys[:k])
        if name in os.environ:
            return name
    return None


def _undecodable(exc: SettingsError) -> str:
    m = re.search(r'field "([^"]+)"', str(exc))
    field = m.group(1).upper() if m else ""
    names = sorted(n for n in os.environ if n.startswith(ENV_PREFIX + field)) if field else []
    which = ", ".join(names) or "an AWSFAILOVER_* variable"
    return (
        f"{which}: not valid JSON (a list or a section is written as JSON, "
        'e.g. AWSFAILOVER_GROUP__ENIS=\'["eni-...", "eni-..."]\')'
    )


def format_validation_error(exc: ValidationError) -> str:
    """One line naming each bad key, or the environment variable its value came from."""
    parts = []
    for err in exc.errors():
        loc = _env_name(err["loc"]) or ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)
