"""Issue 17, items 1 and 2 in the agent: it never follows a record from a directory someone
else controls, and no single input (a FIFO line, a hand-off, a reconcile) ends the process."""

from __future__ import annotations

import socket
from pathlib import Path

from helpers.agents import Running, make_agent, sample, wait_for, write_config

from awsfailover.keepalived.protocol import Transition
from awsfailover.sim.world import World

BOOT = Path("/proc/sys/kernel/random/boot_id").read_text().strip()


def handoff(agent_socket: Path, line: str) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(str(agent_socket))
        s.sendall(line.encode() + b"\n")
        return s.recv(200).decode()


def test_a_master_record_in_an_untrusted_dir_is_not_followed(env, tmp_path: Path) -> None:
    _sim, world = env
    world: World
    (tmp_path / "a-file").write_text("")
    shm = tmp_path / "shm"
    shm.mkdir(mode=0o777)
    shm.chmod(0o777)  # what any local user can make of /dev/shm/awsfailover
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    text = cfg.read_text().replace(
        f'state_dir = "{tmp_path / "b" / "run"}"',
        f'state_dir = "{tmp_path / "a-file" / "run"}"\nfallback_state_dir = "{shm}"',
    )
    cfg.write_text(text)
    with Running(make_agent(cfg)) as agent:
        # a "hook" records a newer MASTER after the agent started: news it would follow
        (shm / "VI_1.seq").write_text(f"{BOOT} 999999999999999999 1 MASTER\n")
        agent.reconcile()  # adopts what hooks recorded: here, nothing it may trust
        assert agent.workers["VI_1"].role == "UNKNOWN"


def test_an_unreadable_record_is_no_record(env, tmp_path: Path) -> None:
    _sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    run = tmp_path / "b" / "run"
    run.mkdir(mode=0o700)
    (run / "VI_1.seq").write_bytes(b"\xff\xfe\x00\n")
    with Running(make_agent(cfg)) as agent:
        answer = handoff(tmp_path / "b" / "agent.sock", 'INSTANCE "VI_1" BACKUP 100 @5:6')
        assert answer.startswith("OK generation"), answer
        assert agent.workers["VI_1"].role == "BACKUP"


def test_no_single_input_ends_the_agent(env, tmp_path: Path, monkeypatch) -> None:
    _sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    cfg.write_text(cfg.read_text().replace("reconcile_interval = 30", "reconcile_interval = 1"))
    with Running(make_agent(cfg)) as agent:

        def broken(*_a: object, **_k: object) -> None:
            raise RuntimeError("something nobody expected")

        monkeypatch.setattr(agent.ordering, "sequences", broken)
        monkeypatch.setattr(agent, "reconcile", broken)
        fifo = (tmp_path / "b" / "notify.fifo").open("w", buffering=1)
        fifo.write('INSTANCE "VI_1" MASTER 100\n')
        fifo.close()
        answer = handoff(tmp_path / "b" / "agent.sock", 'INSTANCE "VI_1" MASTER 100 @5:6')
        assert answer == "ERR 1 RuntimeError\n"  # the hook then does the work itself
        for source in ("fifo", "handoff", "reconcile"):
            assert wait_for(
                lambda s=source: sample(agent, "awsfailover_input_errors_total", input=s) >= 1
            ), source
        monkeypatch.undo()
        # still serving: a good transition is taken as before
        assert agent.dispatch(Transition("INSTANCE", "VI_1", "BACKUP"), "test") is not None
