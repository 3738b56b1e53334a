"""The look after a takeover: a call the demoted master had in flight when keepalived demoted
it can land after the new master confirmed (no AWS API orders two nodes' calls). The new
master looks once more SETTLE_LOOK later and puts back what such a call moved, without
waiting for its reconcile loop (30 s here)."""

from __future__ import annotations

import time
from pathlib import Path

from helpers.agents import MUTATING, Running, make_agent, sample, wait_for, write_config
from helpers.proxy import Proxy

from awsfailover.agent.worker import SETTLE_LOOK
from awsfailover.keepalived.protocol import Transition
from awsfailover.sim.world import ROUTE4, VIP4, ec2_client, holder, route_targets


def took_over(agent) -> bool:  # type: ignore[no-untyped-def]
    return sample(agent, "awsfailover_takeovers_total", instance="VI_1", result="converged") >= 1


def test_a_late_call_of_the_demoted_master_is_put_back(env, tmp_path: Path) -> None:
    _sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    rtb = world.rtb_clients[0]
    with Running(make_agent(cfg)) as agent:
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(lambda: took_over(agent))
        # the demoted master's ReplaceRoute, sent before its BACKUP, lands now
        ec2.replace_route(
            RouteTableId=rtb, DestinationCidrBlock=ROUTE4, NetworkInterfaceId=world.eni_a
        )
        landed = time.monotonic()
        assert wait_for(agent.workers["VI_1"].idle, timeout=SETTLE_LOOK + 8)
        assert route_targets(ec2, rtb)[ROUTE4] == world.eni_b
        assert time.monotonic() - landed < SETTLE_LOOK + 5  # not the 30 s reconcile
        assert holder(ec2, VIP4) == [world.eni_b]


def test_the_settle_look_moves_nothing_when_nothing_moved(env, tmp_path: Path) -> None:
    _sim, world = env
    proxy = Proxy(world.endpoint_url, {})
    try:
        cfg = write_config(world, world.eni_b, tmp_path, "b")
        cfg.write_text(cfg.read_text().replace(world.endpoint_url, proxy.url))
        with Running(make_agent(cfg)) as agent:
            assert wait_for(lambda: agent.last_reconcile_ok is not None)
            agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
            assert wait_for(lambda: took_over(agent))
            proxy.log.clear()
            assert wait_for(agent.workers["VI_1"].idle, timeout=SETTLE_LOOK + 8)
            assert proxy.log, "no settle look was made"
            assert not [c for c in proxy.log if c in MUTATING], proxy.log
    finally:
        proxy.close()


def test_a_backup_cancels_the_settle_look(env, tmp_path: Path) -> None:
    """Demoted before the look: whatever moved away is the new master's, not ours."""
    _sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    rtb = world.rtb_clients[0]
    with Running(make_agent(cfg)) as agent:
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(lambda: took_over(agent))
        agent.dispatch(Transition("INSTANCE", "VI_1", "BACKUP"), "test")
        ec2.replace_route(
            RouteTableId=rtb, DestinationCidrBlock=ROUTE4, NetworkInterfaceId=world.eni_a
        )
        assert wait_for(agent.workers["VI_1"].idle)
        time.sleep(SETTLE_LOOK + 0.5)
        assert route_targets(ec2, rtb)[ROUTE4] == world.eni_a
