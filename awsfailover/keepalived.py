"""keepalived's notify conventions: script arguments and FIFO lines. Pure parsing."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

NOTIFY_TYPES = ("INSTANCE", "GROUP")
NOTIFY_STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED")


@dataclass(frozen=True)
class Transition:
    kind: str  # INSTANCE or GROUP
    name: str
    state: str  # MASTER, BACKUP, FAULT, STOP, DELETED
    priority: int | None = None

    def line(self) -> str:
        prio = "" if self.priority is None else f" {self.priority}"
        return f'{self.kind} "{self.name}" {self.state}{prio}'


def parse_args(kind: str, name: str, state: str, priority: str | int | None) -> Transition:
    kind, state = kind.upper(), state.upper()
    if kind not in NOTIFY_TYPES:
        raise ValueError(f"TYPE must be one of {', '.join(NOTIFY_TYPES)}, not {kind!r}")
    if state not in NOTIFY_STATES:
        raise ValueError(f"STATE must be one of {', '.join(NOTIFY_STATES)}, not {state!r}")
    prio = None
    if priority not in (None, ""):
        try:
            prio = int(priority)
        except ValueError:
            raise ValueError(f"PRIORITY must be a number, not {priority!r}") from None
    return Transition(kind, name, state, prio)


def parse_fifo_line(line: str) -> Transition | None:
    """`INSTANCE "VI_1" MASTER 100` -> Transition; None for lines that are not VRRP
    transitions (keepalived also writes checker and real-server lines to the same FIFO)."""
    try:
        parts = shlex.split(line.strip())
    except ValueError:
        return None
    if len(parts) < 3 or parts[0].upper() not in NOTIFY_TYPES:
        return None
    try:
        return parse_args(parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else None)
    except ValueError:
        return None
