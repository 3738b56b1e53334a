"""The hook's hand-off for the cost of a bare interpreter (issue 18, item 3): with an agent
running, `awsfailover notify ...` imports neither argparse nor logging nor dataclasses nor
typing; with none answering, the full command line does the work after one wait, not two."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from helpers.agents import Running, make_agent, sample, wait_for, write_config
from helpers.imports import hook_with_importtime, imported, log_lines

from awsfailover.cli.fast import notify_args
from awsfailover.keepalived.protocol import parse_args
from awsfailover.sim.world import VIP4, ec2_client, holder

HEAVY = ("argparse", "logging", "dataclasses", "typing", "inspect", "awsfailover.cli.main")


def test_the_hand_off_imports_only_what_handing_over_needs(env, tmp_path: Path) -> None:
    _sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg)) as agent:
        res = hook_with_importtime(cfg)
        assert res.returncode == 0, res.stderr
        lines = log_lines(res.stderr)
        assert (
            len(lines) == 1
            and " INFO awsfailover.notify: VI_1 MASTER handed to the agent (OK " in lines[0]
        ), lines
        heavy = imported(res.stderr) & set(HEAVY)
        assert not heavy, heavy
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b])
        assert sample(agent, "awsfailover_transitions_total", source="hook") == 1


def test_no_agent_answering_costs_one_wait_not_two(world, tmp_path: Path) -> None:
    """An agent socket that accepts and never answers: the fast entry waits handoff_timeout
    once; the full hook that follows does not offer the same line again."""
    from helpers.nodes import Node

    sock = tmp_path / "sockdir" / "agent.sock"
    sock.parent.mkdir(mode=0o700)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(sock))
    server.listen(8)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)  # held open, never answered

    threading.Thread(target=accept, daemon=True).start()
    try:
        node = Node(
            world,
            world.eni_b,
            tmp_path,
            "b",
            extra=f'[agent]\nsocket = "{sock}"\nhandoff_timeout = 1.0\n',
        )
        r = node.master()
        assert r.code == 0, r.err
        assert "converged on" in r.err
        assert len(accepted) == 1, "the line was offered twice"
    finally:
        server.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["notify", "INSTANCE", "VI_1", "MASTER", "100"],
        ["--config", "/x.toml", "notify", "group", "G-1.a:b", "backup"],
        ["--config=/x.toml", "notify", "INSTANCE", "VI_1", "FAULT", "-5"],
        ["notify", "INSTANCE", "VI 1", "MASTER"],
        ["notify", "THING", "VI_1", "MASTER"],
        ["notify", "INSTANCE", "VI_1", "UP"],
        ["notify", "INSTANCE", "VI_1", "MASTER", "high"],
        ["notify", "INSTANCE", "x" * 65, "MASTER"],
        ["-v", "notify", "INSTANCE", "VI_1", "MASTER"],
        ["status"],
    ],
)
def test_the_fast_entry_judges_arguments_as_the_parser_does(argv: list[str]) -> None:
    fast = notify_args(argv)
    rest = argv[argv.index("notify") + 1 :] if "notify" in argv else None
    if rest is None or argv[0] == "-v":
        assert fast is None
        return
    try:
        t = parse_args(rest[0], rest[1], rest[2], rest[3] if len(rest) > 3 else None)
    except ValueError:
        assert fast is None
        return
    assert fast is not None
    _config, kind, name, state, prio = fast
    assert (kind, name, state) == (t.kind, t.name, t.state)
    assert prio == (None if t.priority is None else str(t.priority))
