"""The agent as keepalived runs it: a subprocess, FIFO as last argument, real signals; and
200 random transitions over two agents."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers.agents import Running, load, wait_for, write_config
from helpers.audit import MutationLog
from prometheus_client import CollectorRegistry

from awsfailover.agent.daemon import Agent
from awsfailover.keepalived.protocol import Transition
from awsfailover.sim.world import ROUTE4, VIP4, ec2_client, holder, route_targets


def start_agent(cfg: Path, fifo: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "awsfailover", "--config", str(cfg), "agent", str(fifo)],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=dict(os.environ),
    )


def test_sigterm_during_takeover_finishes_cleanly(env, tmp_path: Path):
    sim, world = env
    sim.set_faults(latency_by_action={"ReplaceRoute": 0.4})
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    fifo, log = tmp_path / "fifo", tmp_path / "agent.log"
    proc = start_agent(cfg, fifo, log)
    try:
        assert wait_for(lambda: "agent up" in log.read_text(), timeout=20), log.read_text()
        with open(fifo, "w") as fh:
            fh.write('INSTANCE "VI_1" MASTER 100\n')
        assert wait_for(lambda: "replace-route" in log.read_text())
        time.sleep(0.2)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5 + 3) == 0
        took = time.monotonic() - sent
    finally:
        proc.kill()
    text = log.read_text()
    assert "agent stopped" in text, text
    assert took < 5 + 2
    # the takeover in flight was finished, not abandoned half-way
    ec2 = ec2_client(world.endpoint_url)
    assert holder(ec2, VIP4) == [world.eni_b]
    assert all(route_targets(ec2, t)[ROUTE4] == world.eni_b for t in world.rtb_clients)
    assert not Path(tmp_path / "b" / "agent.sock").exists()


def test_sighup_reloads_in_a_real_process(env, tmp_path: Path):
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    fifo, log = tmp_path / "fifo", tmp_path / "agent.log"
    proc = start_agent(cfg, fifo, log)
    try:
        assert wait_for(lambda: "agent up" in log.read_text(), timeout=20)
        cfg.write_text(cfg.read_text() + "\nnot_a_key = 1\n")
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "reload rejected" in log.read_text())
        assert proc.poll() is None
        cfg.write_text(
            cfg.read_text().replace("\nnot_a_key = 1\n", "")
            + world.instance_toml("VI_2", vips=["10.0.1.101"], routes=[])
        )
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "reloaded config: 2 instances" in log.read_text())
        with open(fifo, "w") as fh:
            fh.write('INSTANCE "VI_2" MASTER 100\n')
        ec2 = ec2_client(world.endpoint_url)
        assert wait_for(lambda: holder(ec2, "10.0.1.101") == [world.eni_b])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
    assert "Traceback" not in log.read_text()


def test_200_random_transitions_end_on_the_last_master(env, tmp_path: Path):
    sim, world = env
    sim.set_faults(latency=0.01)  # enough for transitions to overlap takeovers in flight
    agents, audits = {}, {"a": MutationLog(), "b": MutationLog()}
    for n, eni in (("a", world.eni_a), ("b", world.eni_b)):
        cfg = write_config(world, eni, tmp_path, n, "damping_max_moves = 1000\n")
        agents[n] = Agent(
            load(cfg),
            registry=CollectorRegistry(),
            addresses=lambda _i: set(),
            listeners=(audits[n],),
        )
    rng = random.Random(20261121)
    # (before dispatch, after it, state, generation): acting first, a worker's first call can
    # come before dispatch returns, so a transition's moment is the span of its dispatch
    received: dict[str, list[tuple[float, float, str, int | None]]] = {"a": [], "b": []}
    lock = threading.Lock()
    last_master = "a"
    sent = 0
    with Running(agents["a"]) as a, Running(agents["b"]) as b:
        by = {"a": a, "b": b}
        while sent < 200:
            new = rng.choice("ab")
            old = "b" if new == "a" else "a"
            # VRRP hands over: the old master hears a better advert (BACKUP) before the new one
            # takes over; sometimes keepalived repeats itself.
            steps = [(old, "BACKUP"), (new, "MASTER")]
            if rng.random() < 0.2:
                steps.append((new, "MASTER"))
            for node, state in steps:
                with lock:
                    began = time.monotonic()
                    gen = by[node].dispatch(Transition("INSTANCE", "VI_1", state), "test")
                    received[node].append((began, time.monotonic(), state, gen))
                sent += 1
            # mostly fast (transitions land on takeovers in flight), sometimes long enough
            # for a takeover to finish
            time.sleep(rng.choice((0.0, 0.01, 0.03, 0.15)))
            last_master = new
        for ag in (a, b):
            assert wait_for(lambda ag=ag: ag.workers["VI_1"].idle(), timeout=20)
        ec2 = ec2_client(world.endpoint_url)
        want = world.eni_a if last_master == "a" else world.eni_b
        assert holder(ec2, VIP4) == [want]
        assert holder(ec2, world.vip6) == [want]
        for t in world.rtb_clients:
            assert {route_targets(ec2, t)[d] for d in (ROUTE4, world.prefix_list)} == {want}
        # no stale action: every mutating call a node made belongs to a MASTER transition
        # whose dispatch had begun, and no newer transition had been dispatched by then
        for n in by:
            seen = [(b, e, st, g) for b, e, st, g in received[n] if g is not None]
            for at, _inst, gen in audits[n].entries:
                mine = [r for r in seen if r[3] == gen]
                assert mine, (n, at, gen, "a mutation of no transition")
                assert all(r[2] == "MASTER" for r in mine), (n, at, gen, mine)
                assert min(r[0] for r in mine) <= at, (n, at, gen, "before its transition")
                newer = [r for r in seen if r[3] > gen and r[1] <= at]  # type: ignore[operator]
                assert not newer, (n, at, gen, "after a newer transition", newer[:3])
        # both kinds happened: takeovers that moved things and takeovers cut short
        assert sum(len(log.entries) for log in audits.values()) > 0
        superseded = sum(
            ag.registry.get_sample_value(
                "awsfailover_takeovers_total", {"instance": "VI_1", "result": "superseded"}
            )
            or 0
            for ag in by.values()
        )
        assert superseded > 0


def test_the_agent_feeds_keepalived_s_trackers(env, tmp_path: Path):
    """Issue 19: once ready the agent's process is named awsfailoverd (vrrp_track_process),
    and its health file says 0 while healthy, 1 while not; a stopping agent leaves 0 (its
    absence is the process tracker's to report)."""
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    cfg.write_text(cfg.read_text().replace("reconcile_interval = 30", "reconcile_interval = 1"))
    health = tmp_path / "b" / "run" / "agent-health"
    fifo, log = tmp_path / "fifo", tmp_path / "agent.log"
    proc = start_agent(cfg, fifo, log)
    comm = Path(f"/proc/{proc.pid}/comm")
    try:
        assert wait_for(lambda: comm.read_text().strip() == "awsfailoverd", timeout=20)
        assert "agent up" in log.read_text()  # named only once ready
        assert wait_for(lambda: health.exists() and health.read_text() == "0\n", timeout=20)
        sim.set_faults(error_rate=1.0)  # EC2 answers nothing but errors: unhealthy
        assert wait_for(lambda: health.read_text() == "1\n", timeout=20), log.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        sim.set_faults()
    assert health.read_text() == "0\n"
