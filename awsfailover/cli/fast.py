"""The process entry, and the keepalived hook's hand-off for the cost of a bare interpreter.

keepalived forks `awsfailover notify TYPE NAME STATE [PRIORITY]` on every transition. When an
agent runs, all the hook does is hand one line over its socket, so that path reads sys.argv
itself and imports only what handing over needs (the socket, the stamp, the config's TOML):
no argparse, logging, dataclasses or typing. Anything else (another command, another flag, a
bad argument, no agent answering) loads the full command line, which does the rest, says
what is wrong, or does the work itself.
"""

from __future__ import annotations

import os
import sys

__all__ = ["main"]

KINDS = ("INSTANCE", "GROUP")
STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED", "MASTER_RX_LOWER_PRI")
# core.names.NAME_RE, without importing re: [A-Za-z0-9_.:-]{1,64}
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")


def main() -> int:
    argv = sys.argv[1:]
    hook = notify_args(argv)
    if hook is not None:
        done = hand_off(*hook)
        if done:
            return 0
    from awsfailover.cli.main import main as full

    return full(argv)


def notify_args(argv: list[str]) -> tuple[str | None, str, str, str, str | None] | None:
    """(config, TYPE, NAME, STATE, PRIORITY) for exactly `[--config PATH] notify T N S [P]`,
    valid as keepalived.protocol.parse_args would judge them; None for anything else."""
    config = None
    if len(argv) >= 2 and argv[0] == "--config":
        config, argv = argv[1], argv[2:]
    elif argv and argv[0].startswith("--config="):
        config, argv = argv[0].split("=", 1)[1], argv[1:]
    if not 4 <= len(argv) <= 5 or argv[0] != "notify":
        return None
    kind, name, state = argv[1].upper(), argv[2], argv[3].upper()
    prio = argv[4] if len(argv) == 5 else None
    if kind not in KINDS or state not in STATES:
        return None
    if state == "MASTER_RX_LOWER_PRI":  # keepalived.protocol.REASSERT: MASTER again
        state = "MASTER"
    if not 1 <= len(name) <= 64 or not set(name) <= _NAME_CHARS:
        return None
    if prio not in (None, ""):
        try:
            prio = str(int(prio))
        except ValueError:
            return None
    return config, kind, name, state, prio or None


def hand_off(config: str | None, kind: str, name: str, state: str, prio: str | None) -> bool:
    """Whether a running agent took the transition (then the one log line is written here)."""
    from awsfailover import defaults  # handoff imports it anyway
    from awsfailover.keepalived import handoff
    from awsfailover.keepalived.stamp import process_stamp

    ns, pid = process_stamp()
    line = f'{kind} "{name}" {state}{"" if prio is None else " " + prio} @{ns}:{pid}'
    path = config or os.environ.get(defaults.CONFIG_ENV) or str(defaults.CONFIG_PATH)
    sock, timeout = handoff.socket_settings(path)
    answer = handoff.send(sock, line, timeout)
    if answer is None:
        handoff.TRIED.add(line)
        return False
    _log(f"{name} {state} handed to the agent ({answer})")
    return True


def _log(message: str) -> None:
    """The line logs.setup's format would write, without importing logging."""
    import time

    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))
    sys.stderr.write(f"{stamp}.{int(now * 1000) % 1000:03d} INFO awsfailover.notify: {message}\n")
