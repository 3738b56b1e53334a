"""keepalived's MASTER_RX_LOWER_PRI (issue 19, item 2): the rightful MASTER heard a lower-
priority one, which took EC2 over while the two could not hear each other. From the FIFO
(agent) or the notify_master_rx_lower_pri hook (no agent), EC2 is back within a second, with
a reconcile_interval far too long for a reconcile to be what fixed it, and not damped."""

from __future__ import annotations

import time
from pathlib import Path

from helpers.agents import Running, make_agent, sample, wait_for, write_config
from helpers.nodes import Node

from awsfailover.cli.fast import notify_args
from awsfailover.keepalived.protocol import Transition, parse_line
from awsfailover.sim.world import VIP4, ec2_client, holder


def test_the_event_is_a_master_transition() -> None:
    t = parse_line('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150')
    assert t is not None and (t.kind, t.name, t.state, t.priority) == (
        "INSTANCE",
        "VI_1",
        "MASTER",
        150,
    )
    fast = notify_args(["notify", "INSTANCE", "VI_1", "MASTER_RX_LOWER_PRI"])
    assert fast is not None and fast[3] == "MASTER"


def test_the_agent_reasserts_within_a_second_and_undamped(env, tmp_path: Path) -> None:
    sim, world = env
    ec2 = ec2_client(world.endpoint_url)
    extra = "damping_max_moves = 1\n"
    cfg_b = write_config(world, world.eni_b, tmp_path, "b", extra)
    cfg_b.write_text(
        cfg_b.read_text().replace("reconcile_interval = 30", "reconcile_interval = 3600")
    )
    fifo = tmp_path / "notify.fifo"
    low = Node(world, world.eni_a, tmp_path, "low")  # the lower-priority node, hook only
    with Running(make_agent(cfg_b, fifo=fifo)) as b:
        b.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(lambda: b.workers["VI_1"].idle() and holder(ec2, VIP4) == [world.eni_b])
        # the VRRP path is cut: the lower-priority node becomes MASTER too and takes EC2
        assert low.master().code == 0
        assert holder(ec2, VIP4) == [world.eni_a]
        # the path heals: b's keepalived hears the lower priority and says so on the FIFO
        started = time.monotonic()
        with fifo.open("w") as fh:
            fh.write('INSTANCE "VI_1" MASTER_RX_LOWER_PRI 150\n')
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b], timeout=5)
        took = time.monotonic() - started
        assert took < 1.0, took
        assert sample(b, "awsfailover_takeovers_damped_total", instance="VI_1") == 0


def test_the_hook_alone_reasserts(world, ec2, tmp_path: Path) -> None:
    high = Node(world, world.eni_b, tmp_path, "high")
    low = Node(world, world.eni_a, tmp_path, "low")
    assert high.master().code == 0
    assert low.master().code == 0  # split brain: the lower one took EC2
    assert holder(ec2, VIP4) == [world.eni_a]
    # keepalived runs notify_master_rx_lower_pri with the arguments it was rendered with
    r = high.run("notify", "INSTANCE", "VI_1", "MASTER_RX_LOWER_PRI")
    assert r.code == 0, r.err
    assert holder(ec2, VIP4) == [world.eni_b]
