"""Act first (issue 18, item 1): the agent's takeover makes its mutating calls at once from
what its last reconcile saw, and observes only to confirm; knowledge that proves wrong falls
back to observe, plan, act within the same deadline."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from helpers.agents import MUTATING, Running, make_agent, sample, wait_for, write_config
from helpers.proxy import Proxy

from awsfailover.keepalived.protocol import Transition
from awsfailover.sim.world import ROUTE4, VIP4, ec2_client, holder, route_targets


def converged(agent, n: int = 1) -> bool:  # type: ignore[no-untyped-def]
    return (
        sample(agent, "awsfailover_takeovers_total", instance="VI_1", result="converged") >= n
        and agent.workers["VI_1"].idle()
    )


def test_the_first_call_after_a_master_line_is_a_mutating_one(env, tmp_path: Path) -> None:
    _sim, world = env
    proxy = Proxy(world.endpoint_url, {})
    try:
        cfg = write_config(world, world.eni_b, tmp_path, "b")
        cfg.write_text(cfg.read_text().replace(world.endpoint_url, proxy.url))
        fifo = tmp_path / "notify.fifo"
        ec2 = ec2_client(world.endpoint_url)
        with Running(make_agent(cfg, fifo=fifo)) as agent:
            agent.reconcile()  # what a BACKUP's reconcile loop knows
            proxy.log.clear()
            with open(fifo, "w") as fh:
                fh.write('INSTANCE "VI_1" MASTER 100\n')
            assert wait_for(lambda: converged(agent))
            assert holder(ec2, VIP4) == [world.eni_b]
            assert proxy.log[0] in MUTATING, proxy.log  # no Describe before the first move
    finally:
        proxy.close()


def test_without_warm_state_it_observes_first(env, tmp_path: Path) -> None:
    """No reconcile yet (or state too old): observe, plan, act, as the hook does."""
    _sim, world = env
    proxy = Proxy(world.endpoint_url, {})
    try:
        cfg = write_config(world, world.eni_b, tmp_path, "b")
        cfg.write_text(cfg.read_text().replace(world.endpoint_url, proxy.url))
        with Running(make_agent(cfg)) as agent:
            agent.engine.observer._last.clear()  # as if the last look were too old
            proxy.log.clear()
            agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
            assert wait_for(lambda: converged(agent))
            assert proxy.log[0].startswith("Describe"), proxy.log
    finally:
        proxy.close()


def test_stale_knowledge_falls_back_to_a_fresh_look_within_the_deadline(
    env, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """After the reconcile, the IPv6 VIP moved from A to another ENI out of band: acting on
    what the agent knew fails, and it observes afresh and converges."""
    _sim, world = env
    ec2 = ec2_client(world.endpoint_url)
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    caplog.set_level(logging.INFO)
    with Running(make_agent(cfg)) as agent:
        agent.reconcile()
        other = ec2.create_network_interface(SubnetId=world.app_subnet)["NetworkInterface"][
            "NetworkInterfaceId"
        ]
        ec2.unassign_ipv6_addresses(NetworkInterfaceId=world.eni_a, Ipv6Addresses=[world.vip6])
        ec2.assign_ipv6_addresses(NetworkInterfaceId=other, Ipv6Addresses=[world.vip6])
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(lambda: converged(agent), timeout=15), caplog.text
        assert "acting first" in caplog.text
        assert "acting on warm state failed" in caplog.text
        assert holder(ec2, world.vip6) == [world.eni_b]
        assert holder(ec2, VIP4) == [world.eni_b]
        assert all(route_targets(ec2, t)[ROUTE4] == world.eni_b for t in world.rtb_clients)


def test_an_item_the_warm_state_got_wrong_is_acted_on_at_once(
    env, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The warm state said a route already pointed here; it was re-pointed away since. The
    first confirmation shows an item the takeover did not act on: acting again follows at once,
    not after REPLAN_AFTER (which is for moves that are merely slow)."""
    from awsfailover.failover.confirm import REPLAN_AFTER

    _sim, world = env
    ec2 = ec2_client(world.endpoint_url)
    rtb = world.rtb_clients[0]
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    caplog.set_level(logging.INFO)
    with Running(make_agent(cfg)) as agent:
        ec2.replace_route(
            RouteTableId=rtb, DestinationCidrBlock=ROUTE4, NetworkInterfaceId=world.eni_b
        )
        agent.reconcile()  # it knows: that route is ours already
        ec2.replace_route(
            RouteTableId=rtb, DestinationCidrBlock=ROUTE4, NetworkInterfaceId=world.eni_a
        )
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(lambda: converged(agent))
        assert "acting first" in caplog.text and "acting again" in caplog.text
        assert route_targets(ec2, rtb)[ROUTE4] == world.eni_b
        took = agent.registry.get_sample_value(
            "awsfailover_takeover_duration_seconds_sum", {"instance": "VI_1"}
        )
        assert took is not None and took < REPLAN_AFTER, took


def test_a_denied_call_on_warm_state_is_not_made_twice(env, tmp_path: Path) -> None:
    """A permanent error that a fresh look would plan the same way (a denied action) is not
    knowledge proven wrong: the same calls are not made again."""
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    with Running(make_agent(cfg)) as agent:
        # the start-up reconcile (beside the main loop) done: no drift repair races the test
        assert wait_for(lambda: agent.last_reconcile_ok is not None)
        agent.reconcile()  # warm state
        sim.set_faults(refuse={"ReplaceRoute": "UnauthorizedOperation"})
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(
            lambda: (
                sample(agent, "awsfailover_takeovers_total", instance="VI_1", result="partial") == 1
            )
        )
    assert sim.outcomes()["ReplaceRoute:refused"] == 6  # once per route, not twice
