"""Row 8 (issue 19, item 4): what an idle node spends on awsfailover, per minute and per day.

Two keepalived lab pairs with the agent, started together and left idle for the same window:
one with keepalived-config's trackers (track_file, vrrp_track_process), one with the
`--script-checks` wiring (a Python check every second and every two seconds). For each node:
the agent's CPU (utime + stime of its process), the CPU of what keepalived starts for us
(the reaped children's cutime + cstime of keepalived's VRRP process: the checks, and any
hook), keepalived's own CPU for context, and the agent's RSS at the end.

Run alone: `.venv/bin/python bench/idle_cost.py [seconds]` (root, ip, keepalived).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")
WINDOW = 60.0


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from state (3) on


def own_cpu(pid: int) -> float:
    f = _stat(pid)
    return (int(f[11]) + int(f[12])) / TICK  # utime, stime


def children_cpu(pid: int) -> float:
    f = _stat(pid)
    return (int(f[13]) + int(f[14])) / TICK  # cutime, cstime: reaped children


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Sample:
    agent: float
    started: float  # what keepalived's VRRP process started and reaped
    keepalived: float


def _agent_pid(node: Any) -> int:
    assert node.agent is not None, "a lab node without its agent"
    return int(node.agent.pid)


def sample(node: Any) -> Sample:
    vrrp = int((node.dir / "vrrp.pid").read_text())
    parent = node.keepalived.pid
    return Sample(
        agent=own_cpu(_agent_pid(node)),
        started=children_cpu(vrrp),
        keepalived=own_cpu(parent) + own_cpu(vrrp),
    )


def measure(window: float = WINDOW) -> dict[str, dict[str, float]]:
    """Per wiring, per node averaged: CPU seconds per minute and the agent's RSS."""
    from awsfailover.sim.lab import Lab, wait_for

    labs = {
        "trackers": Lab.start([150, 100], use_agent=True),
        "script checks": Lab.start([150, 100], use_agent=True, script_checks=True),
    }
    try:
        for lab in labs.values():
            for n in lab.nodes:
                lab.start_node(n)
        for lab in labs.values():
            a = lab.nodes[0]
            settled = partial(lambda lb, n: lb.masters() == [n.name] and lb.converged_on(n), lab, a)
            assert wait_for(settled, 60) is not None, "a lab pair never settled"
        time.sleep(5)  # the start-up hooks and reconciles are done: idle from here
        before = {k: [sample(n) for n in lab.nodes] for k, lab in labs.items()}
        start = time.monotonic()
        time.sleep(window)
        took = time.monotonic() - start
        after = {k: [sample(n) for n in lab.nodes] for k, lab in labs.items()}
        out: dict[str, dict[str, float]] = {}
        for k, lab in labs.items():
            per_min = 60.0 / took / len(lab.nodes)
            b, a_ = before[k], after[k]
            out[k] = {
                "agent": sum(x.agent - y.agent for x, y in zip(a_, b, strict=True)) * per_min,
                "started": sum(x.started - y.started for x, y in zip(a_, b, strict=True)) * per_min,
                "keepalived": sum(x.keepalived - y.keepalived for x, y in zip(a_, b, strict=True))
                * per_min,
                "rss": sum(rss_mib(_agent_pid(n)) for n in lab.nodes) / len(lab.nodes),
                "window": took,
            }
        return out
    finally:
        for lab in labs.values():
            lab.close()


def row8(window: float = WINDOW) -> str:
    from awsfailover.sim.lab import missing_requirements

    missing = missing_requirements()
    if missing:
        return f"| 8 | idle node cost | not measured: {missing} | - |"
    m = measure(window)
    t, s = m["trackers"], m["script checks"]

    def ours(x: dict[str, float]) -> float:
        return x["agent"] + x["started"]

    def cell(x: dict[str, float]) -> str:
        return (
            f"{ours(x):.2f} s/min ({ours(x) * 1440:.0f} s/24 h: agent {x['agent']:.2f}, "
            f"started by keepalived {x['started']:.2f}; keepalived itself {x['keepalived']:.2f}), "
            f"agent RSS {x['rss']:.0f} MiB"
        )

    return (
        f"| 8 | idle pair with the agent, CPU of everything awsfailover runs per node, "
        f"{t['window']:.0f} s window, both wirings side by side (two lab pairs at once) | "
        f"trackers: {cell(t)}; `--script-checks`: {cell(s)} | trackers / script checks = "
        f"**{ours(t) / ours(s):.3f}**; goal 0.3 s/min: **{ours(t):.2f}** |"
    )


if __name__ == "__main__":
    print(row8(float(sys.argv[1]) if len(sys.argv) > 1 else WINDOW))
