"""The MASTER hook's validated config, kept so that an unchanged config is not validated (and
pydantic not imported) on every keepalived transition. Standard library only.

- Written after a full validation, as config.compact's JSON document.
- Keyed by a SHA-256 of the config file's bytes, its path, every AWSFAILOVER_* variable and
  this version: any change is a miss, and the full validation that follows rewrites it.
- Kept in the state directory, where the sequence files are and under the same rule: a real
  directory owned by us and writable by no one else; the file itself ours, 0600, opened
  without following symlinks. Whoever could write it would steer the failover, so a cache
  that fails any check is ignored, loudly, and validation runs as if there were none.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from pathlib import Path

from awsfailover import __version__
from awsfailover.config.compact import CompactSettings, FailoverConfig, from_doc, to_doc
from awsfailover.config.raw import CONFIG_ENV, trusted_dir, untrusted_owner

__all__ = ["CACHE_NAME", "cache_key", "keep", "read_cache", "write_cache"]

log = logging.getLogger(__name__)

CACHE_NAME = "config-cache.json"
ENV_PREFIX = "AWSFAILOVER_"
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def cache_key(config_path: Path) -> str | None:
    """What the validated settings depend on, hashed; None when the file cannot be read."""
    try:
        data = config_path.read_bytes()
    except OSError:
        return None
    h = hashlib.sha256()
    h.update(f"awsfailover {__version__}\0{config_path.absolute()}\0".encode())
    h.update(data)
    # AWSFAILOVER_CONFIG only names the file, whose path is above: an operator's shell and
    # keepalived's environment may differ there and still mean the same settings
    for name in sorted(k for k in os.environ if k.startswith(ENV_PREFIX) and k != CONFIG_ENV):
        h.update(f"\0{name}={os.environ[name]}".encode(errors="surrogateescape"))
    return h.hexdigest()


def _untrusted_file(fd: int) -> str | None:
    st = os.fstat(fd)
    return "not a regular file" if not stat.S_ISREG(st.st_mode) else untrusted_owner(st)


def read_cache(state_dir: Path, config_path: Path) -> CompactSettings | None:
    """The cached settings when they were validated from exactly this config and environment
    and the file passes every ownership check; else None (a miss, or ignored, loudly)."""
    path = state_dir / CACHE_NAME
    key = cache_key(config_path)
    if key is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("config cache %s ignored: %s", path, exc.strerror or exc)
        return None
    with os.fdopen(fd, "rb") as f:
        why = trusted_dir(state_dir) or _untrusted_file(f.fileno())
        if why is not None:
            log.warning("config cache %s IGNORED: %s; validating the config", path, why)
            return None
        raw = f.read(1 << 22)
    try:
        doc = json.loads(raw)
        if doc.get("key") != key:
            return None  # the config or the environment changed: validate and rewrite
        return from_doc(doc["settings"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("config cache %s ignored: unreadable (%s)", path, exc)
        return None


def write_cache(state_dir: Path, config_path: Path, settings: FailoverConfig) -> None:
    """Keep the settings just validated (best effort: a cache that cannot be written costs the
    next hook a validation, nothing else)."""
    key = cache_key(config_path)
    if key is None or trusted_dir(state_dir) is not None:
        return
    path = state_dir / CACHE_NAME
    tmp = state_dir / f"{CACHE_NAME}.tmp{os.getpid()}"
    body = json.dumps({"key": key, "settings": to_doc(settings)}, sort_keys=True).encode()
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(body)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.debug("config cache %s not written: %s", path, exc)


def keep(settings: FailoverConfig, config_path: Path) -> None:
    """After a command validated the config fully (keepalived-config, doctor: what an operator
    runs on a node before keepalived), keep it where the hook looks first, so that even the
    first MASTER hook on a fresh node imports no pydantic."""
    f = settings.failover
    for d in (f.state_dir, f.fallback_state_dir):
        try:
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            continue
        if trusted_dir(d) is None:
            write_cache(d, config_path, settings)
            return
