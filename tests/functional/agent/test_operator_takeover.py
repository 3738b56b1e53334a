"""An operator's `takeover` is not a keepalived transition (issue 17, item 4): on a node that
keepalived has BACKUP it refuses without --force; forced, neither agent follows it as a
transition, and the real master's reconcile moves everything back once, without a fight."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from helpers.agents import MUTATING, Running, make_agent, sample, wait_for, write_config

from awsfailover.keepalived.protocol import Transition
from awsfailover.sim.world import VIP4, ec2_client, holder


def _cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awsfailover", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )


def _mutating(sim) -> int:  # type: ignore[no-untyped-def]
    return sum(n for op, n in sim.calls().items() if op in MUTATING)


def test_takeover_on_a_backup_node_refuses_and_forced_is_repaired_back(env, tmp_path: Path):
    sim, world = env
    ec2 = ec2_client(world.endpoint_url)
    cfg_a = write_config(world, world.eni_a, tmp_path, "a")
    cfg_b = write_config(world, world.eni_b, tmp_path, "b")
    with Running(make_agent(cfg_a)) as a, Running(make_agent(cfg_b)) as b:
        a.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        b.dispatch(Transition("INSTANCE", "VI_1", "BACKUP"), "test")
        assert wait_for(lambda: a.workers["VI_1"].idle() and b.workers["VI_1"].idle())
        assert holder(ec2, VIP4) == [world.eni_a]
        sim.reset_calls()

        refused = _cli(cfg_b, "takeover")
        assert refused.returncode == 2, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert "VI_1 BACKUP" in lines[0] and "--force" in lines[0]
        assert _mutating(sim) == 0
        assert holder(ec2, VIP4) == [world.eni_a]

        forced = _cli(cfg_b, "takeover", "--force")
        assert forced.returncode == 0, forced.stderr
        assert "operator takeover FORCED" in forced.stderr
        assert holder(ec2, VIP4) == [world.eni_b]
        # the BACKUP node's agent did not take it for keepalived's word
        b.reconcile()
        assert sample(b, "awsfailover_vrrp_state", instance="VI_1", state="BACKUP") == 1
        assert sample(b, "awsfailover_vrrp_state", instance="VI_1", state="MASTER") == 0
        # the real master's reconcile repairs it back, and then both stay still
        a.reconcile()
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_a])
        assert wait_for(lambda: a.workers["VI_1"].idle() and b.workers["VI_1"].idle())
        settled = _mutating(sim)
        for _ in range(5):
            for ag in (a, b):
                ag.reconcile()
            time.sleep(0.1)
        assert wait_for(lambda: a.workers["VI_1"].idle() and b.workers["VI_1"].idle())
        assert _mutating(sim) == settled  # no fight
        assert holder(ec2, VIP4) == [world.eni_a]
        assert sample(a, "awsfailover_split_brain", instance="VI_1") == 0
