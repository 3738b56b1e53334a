"""keepalived's notify conventions: script arguments and FIFO lines. Pure parsing, linear time.

Anything that reaches the agent's FIFO or socket may be hostile (a local user, a broken
writer): lines are bounded by the reader, parsed with one regular expression (no shlex), and
the instance name must be one the config could hold, since it also names files in state_dir.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from awsfailover.core.names import NAME_RE

NOTIFY_TYPES = ("INSTANCE", "GROUP")
NOTIFY_STATES = ("MASTER", "BACKUP", "FAULT", "STOP", "DELETED", "MASTER_RX_LOWER_PRI")
# keepalived's MASTER_RX_LOWER_PRI: this MASTER heard a lower-priority one, which took over
# while the two could not hear each other (the keepalived man page names AWS secondary IPs as
# the case). For EC2 it is MASTER again, a new transition in keepalived's order: re-assert
# everything now, not at the next reconcile, and never damped as drift.
REASSERT = {"MASTER_RX_LOWER_PRI": "MASTER"}

# keepalived 2.2 vrrp_notify_fifo: `INSTANCE "VI_1" MASTER 100`; the hand-off adds the hook's
# fork stamp: `INSTANCE "VI_1" MASTER 100 @<ns>:<pid>`.
_LINE_RE = re.compile(
    r'^\s*(?P<kind>[A-Za-z]{1,16})\s+(?:"(?P<qname>[^"]{1,64})"|(?P<name>\S{1,64}))'
    r"\s+(?P<state>[A-Za-z_]{1,24})(?:\s+(?P<prio>-?\d{1,6}))?"
    r"(?:\s+@(?P<ns>\d{1,20}):(?P<pid>\d{1,12}))?\s*$"
)


@dataclass(frozen=True)
class Transition:
    kind: str  # INSTANCE or GROUP
    name: str
    state: str  # MASTER, BACKUP, FAULT, STOP, DELETED
    priority: int | None = None
    stamp: tuple[int, int] | None = None  # the hook's fork stamp (hand-off only)

    def line(self) -> str:
        prio = "" if self.priority is None else f" {self.priority}"
        stamp = "" if self.stamp is None else f" @{self.stamp[0]}:{self.stamp[1]}"
        return f'{self.kind} "{self.name}" {self.state}{prio}{stamp}'


def parse_args(kind: str, name: str, state: str, priority: str | int | None) -> Transition:
    kind, state = kind.upper(), state.upper()
    if kind not in NOTIFY_TYPES:
        raise ValueError(f"TYPE must be one of {', '.join(NOTIFY_TYPES)}, not {kind[:20]!r}")
    if state not in NOTIFY_STATES:
        raise ValueError(f"STATE must be one of {', '.join(NOTIFY_STATES)}, not {state[:20]!r}")
    state = REASSERT.get(state, state)
    if not NAME_RE.match(name):
        raise ValueError(f"NAME {name[:70]!r} is not a keepalived instance name")
    prio = None
    if priority not in (None, ""):
        try:
            prio = int(priority)
        except ValueError:
            raise ValueError(f"PRIORITY must be a number, not {str(priority)[:20]!r}") from None
    return Transition(kind, name, state, prio)


def parse_line(line: str) -> Transition | None:
    """One FIFO or hand-off line -> Transition; None for anything else (keepalived also writes
    checker and real-server lines to the same FIFO)."""
    m = _LINE_RE.match(line)
    if m is None or m["kind"].upper() not in NOTIFY_TYPES:
        return None
    try:
        t = parse_args(m["kind"], m["qname"] or m["name"], m["state"], m["prio"])
    except ValueError:
        return None
    if m["ns"] is not None:
        return Transition(t.kind, t.name, t.state, t.priority, (int(m["ns"]), int(m["pid"])))
    return t
