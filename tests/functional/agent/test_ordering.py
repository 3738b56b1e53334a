"""keepalived's order, whatever the arrival order (issue 10, items 1, 2, 3 and 10)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from helpers.agents import Running, make_agent, sample, wait_for, write_config

from awsfailover.sim.world import ROUTE4, VIP4, ec2_client, holder, route_targets


def tick_now() -> tuple[int, int]:
    """A stamp for a process forked now: the start of the current clock tick, as the kernel
    records a process start time."""
    ns = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return ns - ns % tick, os.getpid()


def handoff(sock: Path, line: str) -> str:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(str(sock))
    s.sendall(line.encode() + b"\n")
    reply = s.recv(512).decode()
    s.close()
    return reply


def notify(cfg: Path, state: str, late: float = 0.0, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """A hook as keepalived forks it; `late` delays the interpreter, not the fork."""
    return subprocess.Popen(
        [
            "sh",
            "-c",
            f'sleep {late}; exec "$0" "$@"',
            sys.executable,
            "-m",
            "awsfailover",
            "--config",
            str(cfg),
            "notify",
            "INSTANCE",
            "VI_1",
            state,
            "100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


# --- the sequence itself ---------------------------------------------------------------------


def test_process_stamp_is_the_fork_time_not_the_call_time(tmp_path: Path) -> None:
    from awsfailover.failover.sequence import FIFO_PID, now_stamp, process_stamp

    before = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    out = subprocess.run(
        [
            "sh",
            "-c",
            'sleep 0.3; exec "$0" -c "from awsfailover.failover.sequence import process_stamp as p;'
            'print(*p())"',
            sys.executable,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    ns, pid = int(out[0]), int(out[1])
    tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    assert before - tick <= ns <= before + 0.1e9  # forked then; its Python ran 0.3 s later
    assert pid != os.getpid()
    assert process_stamp()[1] == os.getpid()
    assert now_stamp()[1] == FIFO_PID


def test_sequence_accepts_only_newer_stamps_and_survives_reboot_ids(tmp_path: Path) -> None:
    from awsfailover.failover.sequence import Sequence

    seq = Sequence("VI_1", tmp_path)
    assert seq.advance((100, 5), "MASTER")
    assert not seq.advance((100, 4), "BACKUP")  # same tick, older PID: forked earlier
    assert not seq.advance((100, 5), "BACKUP")  # the same transition again
    assert seq.advance((100, 6), "BACKUP")
    assert seq.current().state == "BACKUP"  # type: ignore[union-attr]
    # a record from another boot means nothing after a reboot (state_dir on a real disk)
    (tmp_path / "VI_1.seq").write_text("other-boot 999999999999 1 MASTER\n")
    assert seq.current() is None
    assert seq.advance((1, 1), "MASTER")


# --- item 2: hook-only, ticket order is fork order ----------------------------------------------


def test_hook_only_older_master_with_slow_start_loses_to_newer_backup(env, tmp_path: Path) -> None:
    """keepalived forks MASTER then BACKUP; the MASTER's interpreter starts 0.8 s late. Before,
    it took its ticket after the BACKUP and moved EC2 to a node keepalived had demoted."""
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    master = notify(cfg, "MASTER", late=0.8)
    time.sleep(0.05)
    backup = notify(cfg, "BACKUP")
    out_b = backup.communicate(timeout=30)
    out_m = master.communicate(timeout=30)
    assert backup.returncode == 0, out_b
    assert master.returncode == 0, out_m
    assert "already overtaken" in out_m[1], out_m[1]
    assert holder(ec2, VIP4) == [world.eni_a]
    assert sum(sim.calls().get(op, 0) for op in ("AssignPrivateIpAddresses", "ReplaceRoute")) == 0


# --- item 1: agent, FIFO and hook carry the same transitions ---------------------------------


def test_duplicate_master_hook_after_fifo_backup_does_not_reorder(env, tmp_path: Path) -> None:
    """keepalived: MASTER then BACKUP, each on the FIFO and through a hook. The MASTER hook
    arrives last (slow start). It is a duplicate of a transition the FIFO already delivered
    and overtook: it must not act."""
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    sim.set_faults(latency=0.05)
    with Running(make_agent(cfg)) as agent:
        fifo = agent.fifo
        assert fifo is not None
        master_forked = tick_now()  # keepalived forks the MASTER hook ...
        time.sleep(0.03)
        with fifo.open("w") as fh:  # ... writes MASTER, then 30 ms later BACKUP
            fh.write('INSTANCE "VI_1" MASTER 100\n')
            fh.flush()
            time.sleep(0.03)
            fh.write('INSTANCE "VI_1" BACKUP 100\n')
        assert wait_for(
            lambda: agent.workers["VI_1"].role == "BACKUP" and agent.workers["VI_1"].idle()
        )
        sim.reset_calls()
        reply = handoff(
            tmp_path / "b" / "agent.sock",
            f'INSTANCE "VI_1" MASTER 100 @{master_forked[0]}:{master_forked[1]}',
        )
        assert reply.startswith("OK overtaken"), reply
        time.sleep(0.5)
        assert agent.workers["VI_1"].role == "BACKUP"
        assert not any(sim.calls().get(op) for op in ("AssignPrivateIpAddresses", "ReplaceRoute"))
        assert sample(agent, "awsfailover_transitions_total", source="hook-overtaken") == 1
    sim.set_faults()


def test_hook_forked_after_the_fifo_line_is_a_new_transition(env, tmp_path: Path) -> None:
    """The other direction: a hook keepalived forked after the last FIFO line was read is
    newer than anything the FIFO said, and is acted on."""
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg)) as agent:
        assert agent.fifo is not None
        with agent.fifo.open("w") as fh:
            fh.write('INSTANCE "VI_1" BACKUP 100\n')
        assert wait_for(lambda: agent.workers["VI_1"].role == "BACKUP")
        time.sleep(0.05)
        stamp = tick_now()
        reply = handoff(
            tmp_path / "b" / "agent.sock", f'INSTANCE "VI_1" MASTER 100 @{stamp[0]}:{stamp[1]}'
        )
        assert reply.startswith("OK generation"), reply
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b])


# --- item 3: one sequence for the hook's fallback and the agent --------------------------------


def test_backup_handed_to_agent_stops_a_master_hook_doing_the_work_itself(
    env, tmp_path: Path
) -> None:
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    sim.set_faults(latency_by_action={"ReplaceRoute": 0.4})
    with Running(make_agent(cfg)):
        # this MASTER hook cannot reach the agent (another socket path): it does the work
        master = notify(
            cfg,
            "MASTER",
            env={
                "AWSFAILOVER_AGENT__SOCKET": str(tmp_path / "nope"),
                "AWSFAILOVER_FAILOVER__MAX_CONCURRENCY": "1",  # one route at a time
            },
        )
        assert wait_for(lambda: sim.calls().get("ReplaceRoute", 0) >= 1, timeout=20)
        backup = notify(cfg, "BACKUP")  # reaches the agent
        out_b = backup.communicate(timeout=30)
        assert backup.returncode == 0 and "handed to the agent" in out_b[1], out_b
        out_m = master.communicate(timeout=30)
    sim.set_faults()
    assert master.returncode == 0, out_m
    assert "superseded" in out_m[1], out_m[1]
    # 6 routes at 0.4 s each, one at a time: it stopped before the rest were sent
    assert sim.calls().get("ReplaceRoute", 0) < 6


def test_agent_takeover_stops_when_a_hook_fallback_records_a_newer_backup(
    env, tmp_path: Path, monkeypatch
) -> None:
    sim, world = env
    monkeypatch.setenv("AWSFAILOVER_FAILOVER__MAX_CONCURRENCY", "1")  # one route at a time
    cfg = write_config(world, world.eni_b, tmp_path, "b", agent_extra="handoff_timeout = 0.1\n")
    sim.set_faults(latency_by_action={"ReplaceRoute": 0.4})
    with Running(make_agent(cfg)) as agent:
        assert agent.fifo is not None
        with agent.fifo.open("w") as fh:
            fh.write('INSTANCE "VI_1" MASTER 100\n')
        assert wait_for(lambda: sim.calls().get("ReplaceRoute", 0) >= 1, timeout=20)
        backup = notify(cfg, "BACKUP", env={"AWSFAILOVER_AGENT__SOCKET": str(tmp_path / "nope")})
        assert backup.wait(timeout=30) == 0
        assert wait_for(
            lambda: (
                sample(agent, "awsfailover_takeovers_total", instance="VI_1", result="superseded")
                == 1
            )
        )
    sim.set_faults()
    assert sim.calls().get("ReplaceRoute", 0) < 6


# --- item 10: a routes-only instance resumes after the agent dies ------------------------------


def test_routes_only_master_resumes_after_the_agent_is_killed(env, tmp_path: Path) -> None:
    sim, world = env
    inst = world.instance_toml("VI_R", vips=[], routes=[ROUTE4])
    cfg = write_config(world, world.eni_b, tmp_path, "b", instances=inst)
    ec2 = ec2_client(world.endpoint_url)
    sim.set_faults(latency_by_action={"ReplaceRoute": 2.0})
    log = tmp_path / "agent.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "awsfailover", "--config", str(cfg), "agent"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        assert wait_for(lambda: "agent up" in log.read_text(), timeout=20), log.read_text()
        reply = handoff(tmp_path / "b" / "agent.sock", 'INSTANCE "VI_R" MASTER 100')
        assert reply.startswith("OK generation"), reply  # acknowledged ...
        assert wait_for(lambda: "replace-route" in log.read_text())
        proc.send_signal(signal.SIGKILL)  # ... and the agent dies mid-way
        proc.wait(timeout=10)
    finally:
        proc.kill()
    sim.set_faults()
    assert any(route_targets(ec2, t)[ROUTE4] == world.eni_a for t in world.rtb_clients)
    with Running(make_agent(cfg)) as agent:
        assert wait_for(
            lambda: all(route_targets(ec2, t)[ROUTE4] == world.eni_b for t in world.rtb_clients)
        )
        assert agent.workers["VI_R"].role == "MASTER"
