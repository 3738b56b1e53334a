"""Issue 17, item 5: an agent that outlives its keepalived stops acting as MASTER. While the
pid file names no running keepalived the node's role is unknown: no repair, /healthz fails,
awsfailover_keepalived_up is 0, until keepalived reports a state again."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from helpers.agents import Running, make_agent, sample, wait_for, write_config

from awsfailover.keepalived.protocol import Transition
from awsfailover.sim.world import VIP4, ec2_client, holder


def fake_keepalived(tmp: Path, pidfile: Path) -> subprocess.Popen[bytes]:
    """A process whose name (comm) is keepalived, and its pid file, as keepalived -p writes."""
    exe = tmp / "keepalived"
    if not exe.exists():
        shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "600"])
    # as keepalived does, the pid file is written by the running process: after the exec
    comm = Path(f"/proc/{proc.pid}/comm")
    assert wait_for(lambda: comm.read_text().strip() == "keepalived", timeout=5)
    pidfile.write_text(f"{proc.pid}\n")
    return proc


def test_an_agent_whose_keepalived_died_repairs_nothing(env, tmp_path: Path) -> None:
    sim, world = env
    ec2 = ec2_client(world.endpoint_url)
    cfg_a = write_config(world, world.eni_a, tmp_path, "a")
    cfg_b = write_config(world, world.eni_b, tmp_path, "b")
    pidfile = tmp_path / "a" / "keepalived.pid"
    keepalived = fake_keepalived(tmp_path, pidfile)
    try:
        with Running(make_agent(cfg_a)) as a, Running(make_agent(cfg_b)) as b:
            a.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
            b.dispatch(Transition("INSTANCE", "VI_1", "BACKUP"), "test")
            assert wait_for(lambda: a.workers["VI_1"].idle() and b.workers["VI_1"].idle())
            a.reconcile()
            assert sample(a, "awsfailover_keepalived_up") == 1
            assert a.healthy()[0], a.healthy()

            keepalived.kill()  # SIGKILL: the pid file stays behind
            keepalived.wait()
            # the peer's keepalived becomes MASTER and its agent moves everything
            b.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
            assert wait_for(lambda: b.workers["VI_1"].idle() and holder(ec2, VIP4) == [world.eni_b])
            moves = sim.calls().get("AssignPrivateIpAddresses", 0)
            for _ in range(3):  # three reconcile intervals of the orphaned agent
                a.reconcile()
                assert wait_for(a.workers["VI_1"].idle)
                time.sleep(0.1)
            assert holder(ec2, VIP4) == [world.eni_b]
            assert sim.calls().get("AssignPrivateIpAddresses", 0) == moves
            ok, why = a.healthy()
            assert not ok and "keepalived is not running" in why, why
            assert sample(a, "awsfailover_keepalived_up") == 0
            assert sample(a, "awsfailover_vrrp_state", instance="VI_1", state="UNKNOWN") == 1

            # keepalived returns and reports its state: the agent follows it again
            keepalived = fake_keepalived(tmp_path, pidfile)
            a.reconcile()
            assert sample(a, "awsfailover_keepalived_up") == 1
            a.dispatch(Transition("INSTANCE", "VI_1", "BACKUP"), "fifo")
            assert sample(a, "awsfailover_vrrp_state", instance="VI_1", state="BACKUP") == 1
            a.reconcile()
            assert a.healthy()[0], a.healthy()
    finally:
        keepalived.kill()
        keepalived.wait()


def test_the_settle_look_of_an_agent_whose_keepalived_died_repairs_nothing(
    env, tmp_path: Path
) -> None:
    """Killed within SETTLE_LOOK of its takeover (the sub-second lab saw it): the peer is
    master now, and the look after the takeover must not pull EC2 back."""
    sim, world = env
    ec2 = ec2_client(world.endpoint_url)
    cfg = write_config(world, world.eni_a, tmp_path, "a")
    keepalived = fake_keepalived(tmp_path, tmp_path / "a" / "keepalived.pid")
    try:
        with Running(make_agent(cfg)) as a:
            assert wait_for(lambda: a.last_reconcile_ok is not None)  # it has seen keepalived
            a.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
            assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_a])
            keepalived.kill()
            keepalived.wait()
            # the peer, MASTER now, takes the VIP before a's settle look
            ec2.assign_private_ip_addresses(
                NetworkInterfaceId=world.eni_b, PrivateIpAddresses=[VIP4], AllowReassignment=True
            )
            assert wait_for(a.workers["VI_1"].idle, timeout=10)
            assert holder(ec2, VIP4) == [world.eni_b]
            assert a.workers["VI_1"].role == "UNKNOWN"
    finally:
        keepalived.kill()


def test_a_restarted_agent_is_healthy_as_soon_as_its_keepalived_speaks(env, tmp_path: Path) -> None:
    """Both keepalived and the agent were killed (the issue 21 lab kills both): the pid file
    of the dead keepalived stays behind, so the restarted agent finds keepalived gone. When
    the new keepalived reports its first state on the FIFO the agent is healthy again at once
    (the health file keepalived tracks says 0), not a reconcile_interval (30 s here) later:
    meanwhile keepalived holds the node 50 below its priority and it cannot preempt."""
    _sim, world = env
    cfg = write_config(world, world.eni_a, tmp_path, "a")
    pidfile = tmp_path / "a" / "keepalived.pid"
    dead = fake_keepalived(tmp_path, pidfile)
    dead.kill()
    dead.wait()  # its pid file names no running process
    fifo = tmp_path / "notify.fifo"
    health = tmp_path / "a" / "run" / "agent-health"
    keepalived = None
    try:
        with Running(make_agent(cfg, fifo=fifo, process_name="awsfailoverd")) as a:
            assert wait_for(lambda: a.keepalived.gone is not None)
            assert wait_for(lambda: health.exists() and health.read_text() == "1\n")
            keepalived = fake_keepalived(tmp_path, pidfile)
            with open(fifo, "w") as fh:
                fh.write('INSTANCE "VI_1" BACKUP 150\n')
            assert wait_for(lambda: health.read_text() == "0\n", timeout=3), a.healthy()
            assert a.keepalived.gone is None and a.healthy()[0]
    finally:
        if keepalived is not None:
            keepalived.kill()
            keepalived.wait()
