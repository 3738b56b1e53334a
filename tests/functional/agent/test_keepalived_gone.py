"""Issue 17, item 5: an agent that outlives its keepalived stops acting as MASTER. While the
pid file names no running keepalived the node's role is unknown: no repair, /healthz fails,
awsfailover_keepalived_up is 0, until keepalived reports a state again."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
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


@pytest.mark.parametrize("first", ["pid file", "fifo line"])
def test_a_restarted_agent_is_healthy_as_soon_as_its_keepalived_speaks(
    env, tmp_path: Path, first: str
) -> None:
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
            if first == "pid file":
                keepalived = fake_keepalived(tmp_path, pidfile)
            with open(fifo, "w") as fh:  # the new keepalived's first state
                fh.write('INSTANCE "VI_1" BACKUP 150\n')
            # (a new keepalived may report before it rewrote the file the killed one left)
            assert wait_for(lambda: health.read_text() == "0\n", timeout=3), a.healthy()
            if keepalived is None:
                keepalived = fake_keepalived(tmp_path, pidfile)
                a.reconcile()  # the next look finds it running
            assert a.keepalived.gone is None and a.healthy()[0]
    finally:
        if keepalived is not None:
            keepalived.kill()
            keepalived.wait()


def test_keepalived_speaking_between_the_read_and_the_verdict_wins(env, tmp_path: Path) -> None:
    """The race a CI run of the issue 21 lab met: the guard read the pid file the killed
    keepalived left, the new keepalived then wrote its own and reported BACKUP, and only then
    did the guard declare keepalived gone, so an UNKNOWN newer than the BACKUP set the role and
    the health for a whole reconcile_interval (the node could not preempt). "Gone" is now as
    old as the read: the BACKUP overtakes it, and the guard looks again."""
    _sim, world = env
    cfg = write_config(world, world.eni_a, tmp_path, "a")
    pidfile = tmp_path / "a" / "keepalived.pid"
    keepalived = fake_keepalived(tmp_path, pidfile)
    procs = [keepalived]
    try:
        with Running(make_agent(cfg)) as a:
            a.reconcile()
            assert a.keepalived.up is True
            keepalived.kill()  # its pid file stays behind
            keepalived.wait()
            watch = a.keepalived.watch
            real = watch.check

            def read_then_keepalived_speaks() -> tuple[bool | None, str]:
                verdict = real()  # the stale pid file: gone
                watch.check = real  # type: ignore[method-assign]
                procs.append(fake_keepalived(tmp_path, pidfile))  # the new one writes its pid
                a.dispatch(Transition("INSTANCE", "VI_1", "BACKUP"), "fifo")  # and speaks
                return verdict

            watch.check = read_then_keepalived_speaks  # type: ignore[method-assign]
            a.keepalived.check()
            assert a.keepalived.gone is None
            assert sample(a, "awsfailover_vrrp_state", instance="VI_1", state="BACKUP") == 1
            assert sample(a, "awsfailover_keepalived_up") == 1
    finally:
        for p in procs:
            p.kill()
            p.wait()
