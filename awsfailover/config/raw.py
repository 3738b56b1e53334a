"""Where the config file and the state live. Standard library only: the hook's hand-off path and
keepalived's checks need them before anything heavy is imported."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from awsfailover import defaults

# The hook's hand-off reads the config through here and must not pay for importing typing.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_CONFIG_PATH = defaults.CONFIG_PATH
CONFIG_ENV = defaults.CONFIG_ENV


def resolve_config_path(cli_path: str | None) -> Path:
    if cli_path:
        return Path(cli_path)
    env = os.environ.get(CONFIG_ENV)
    return Path(env) if env else DEFAULT_CONFIG_PATH


class RawConfigError(Exception):
    """The file cannot be read or is not TOML (the one-line reason is the message)."""


def load_raw(path: Path) -> dict[str, Any]:
    """The config as plain TOML, unvalidated, or RawConfigError saying why not.

    Bytes first, then strict UTF-8: a stray non-UTF-8 byte must be a clear error, never a
    UnicodeDecodeError escaping from the parser (that once killed the agent on SIGHUP)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RawConfigError(f"config file {path} not found") from None
    except OSError as exc:
        raise RawConfigError(f"config file {path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RawConfigError(
            f"config file {path}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    try:
        doc: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RawConfigError(f"config file {path}: invalid TOML: {exc}") from None
    return doc


def read_raw(path: Path) -> dict[str, Any]:
    """load_raw, or {} when unreadable (the full path reports why). For the hook's hand-off
    and keepalived's checks, which must not import pydantic."""
    try:
        return load_raw(path)
    except RawConfigError:
        return {}


def section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    value = doc.get(name)
    return value if isinstance(value, dict) else {}


def raw_instance_names(doc: dict[str, Any]) -> list[str] | None:
    """The instance names the file configures; None when the environment configures them
    (AWSFAILOVER_INSTANCES), which only the validated load reads."""
    if os.environ.get("AWSFAILOVER_INSTANCES") is not None:
        return None
    return [str(i.get("name")) for i in doc.get("instances", []) if isinstance(i, dict)]


def raw_state_dirs(doc: dict[str, Any]) -> tuple[Path, Path] | None:
    """(state_dir, fallback_state_dir) as the validated config would have them, from the
    environment or the raw TOML; None when a value is not an absolute path (the validated
    load then refuses it with exit 2)."""
    failover = section(doc, "failover")
    out = []
    for key, default in (
        ("state_dir", defaults.STATE_DIR),
        ("fallback_state_dir", defaults.FALLBACK_STATE_DIR),
    ):
        value: object = os.environ.get(f"AWSFAILOVER_FAILOVER__{key.upper()}")
        if value is None:
            value = failover.get(key, str(default))
        if not isinstance(value, str) or not Path(value).is_absolute():
            return None
        out.append(Path(value))
    return out[0], out[1]


def trusted_dir(path: Path) -> str | None:
    """Why path may not hold our state (None when it may): it must be a real directory owned
    by our effective user and writable by no one else, as the FIFO's checks demand."""
    try:
        st = path.lstat()
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISDIR(st.st_mode):
        return "not a directory (a symlink or a file)"
    return untrusted_owner(st)


def untrusted_owner(st: os.stat_result) -> str | None:
    """Why a file or directory with this stat may have been written by someone else."""
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not {os.geteuid()}"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None
