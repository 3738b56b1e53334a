"""`awsfailover demo`, run whole as `make demo` runs it: its state table shows every route its
log shows moving, and it says which of its two times is which (issue 22, item 6)."""

from __future__ import annotations

import re
import subprocess
import sys

from awsfailover.sim.world import ROUTE4, ROUTE6


def test_demo_table_shows_every_moved_route_and_names_its_times() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "awsfailover", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    # every route the log shows replaced appears in the state table after that step
    moved = set(re.findall(r"replace-route (rtb-\w+) (\S+) ->", out))
    shown = set(re.findall(r"^    route (rtb-\w+) (\S+)\s+->", out, re.M))
    assert moved and moved <= shown, (moved, shown)
    assert any(dest == ROUTE6 for _, dest in shown)
    assert any(dest == ROUTE4 for _, dest in shown)
    # after step 1 (B master) every IPv6 route row names B
    step1 = out.split("[1] keepalived makes B MASTER")[1].split("[2]")[0]
    rows6 = [ln for ln in step1.splitlines() if ln.startswith("    route ") and ROUTE6 in ln]
    assert rows6 and all("-> B (" in ln for ln in rows6), rows6
    # the two times are named
    assert "ms wall time (the whole process)" in out
    assert "engine time" in out
    # the arbiter's steps: a split brain moves nothing, a dead holder's lease is taken
    assert re.search(r"^\[6\] .*: exit 1, \d+ ms wall time, 0 mutating EC2 calls$", out, re.M)
    assert re.search(
        r"^\[7\] .*: exit 0, \d+ ms wall time, [1-9]\d* mutating EC2 calls$", out, re.M
    )
    assert "lease taken, token 2" in out and "the lease now: holder eni-" in out
