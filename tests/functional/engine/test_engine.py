"""The engine in-process against the local endpoint in a thread: confirmation, retries,
permanent errors, supersession."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from awsfailover.aws.clients import CallCounter, make_ec2_client
from awsfailover.aws.ec2 import Ec2
from awsfailover.config.schema import FailoverSettings, InstanceSettings, Settings
from awsfailover.core.deadline import Deadline
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import PermanentError, Superseded
from awsfailover.failover.engine import Engine
from awsfailover.failover.sequence import Sequence, now_stamp
from awsfailover.sim.world import ROUTE4, ROUTE6, VIP4, World, ec2_client, holder


def engine_for(world: World, eni: str, deadline: float = 10.0) -> tuple[Engine, CallCounter]:
    settings = Settings(
        region="eu-north-1",
        endpoint_url=world.endpoint_url,
        failover=FailoverSettings(deadline=deadline),
    )
    counter = CallCounter()
    client = make_ec2_client("eu-north-1", world.endpoint_url, read_timeout=2)
    return Engine(settings, Ec2(client, counter), eni), counter


def inst(world: World) -> InstanceSpec:
    return InstanceSettings(
        name="VI_1",
        vips=[VIP4, world.vip6],
        routes=[ROUTE4, ROUTE6, world.prefix_list],
        route_tables=world.rtb_clients,
    ).spec


def test_confirmation_waits_for_async_move(env):
    sim, world = env
    sim.set_move_delay(0.5)
    eng, _ = engine_for(world, world.eni_b)
    out = eng.takeover(inst(world), Deadline(10))
    assert out.complete, out
    assert out.seconds >= 0.5  # it did not trust the 200: it waited until the move was visible
    assert holder(ec2_client(world.endpoint_url), VIP4) == [world.eni_b]


def test_ipv6_gap_is_short_under_async_release(env):
    sim, world = env
    sim.set_move_delay(0.3)
    eng, counter = engine_for(world, world.eni_b)
    out = eng.takeover(inst(world), Deadline(10))
    assert out.complete
    # the assign was retried tightly until the release landed, not after a Describe poll
    assert counter.calls["AssignIpv6Addresses"] >= 2
    assert counter.calls["UnassignIpv6Addresses"] == 1


def test_retries_under_throttling_and_5xx_converge_within_deadline(env):
    sim, world = env
    sim.set_faults(throttle_rate=0.3, error_rate=0.05, drop_rate=0.02, seed=7)
    eng, counter = engine_for(world, world.eni_b, deadline=8)
    started = time.monotonic()
    out = eng.takeover(inst(world), Deadline(8))
    assert out.complete, out
    assert time.monotonic() - started < 8
    assert sum(counter.retries.values()) > 0


def test_permanent_error_fails_fast_with_code_and_resource(env):
    _, world = env
    eng, counter = engine_for(world, world.eni_b)
    ec2 = ec2_client(world.endpoint_url)
    # the route target ENI vanishes between plan and apply: ReplaceRoute is refused for good
    ec2.delete_network_interface(NetworkInterfaceId=world.eni_c)
    with pytest.raises(PermanentError) as e:
        eng.ec2.replace_route(world.rtb_app, ROUTE4, world.eni_c, Deadline(10))
    assert "InvalidNetworkInterfaceID.NotFound" in str(e.value)
    assert world.rtb_app in str(e.value)
    assert counter.calls["ReplaceRoute"] == 1  # not retried


def test_deadline_bounds_a_dead_endpoint(env):
    sim, world = env
    sim.set_faults(error_rate=1.0)
    eng, _ = engine_for(world, world.eni_b)
    started = time.monotonic()
    with pytest.raises(Exception, match="InternalError"):
        eng.observe(inst(world), Deadline(1.5))
    assert time.monotonic() - started < 2.5


def test_newer_transition_supersedes_one_in_flight(env, tmp_path: Path):
    sim, world = env
    sim.set_faults(latency_by_action={"ReplaceRoute": 0.3})
    eng, counter = engine_for(world, world.eni_b)
    t = Sequence("VI_1", tmp_path)
    ticket = now_stamp()
    assert t.advance(ticket, "MASTER")
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["out"] = eng.takeover(inst(world), Deadline(10), lambda: t.check(ticket))
        except Superseded as exc:
            result["superseded"] = exc

    eng_small = Engine(
        eng.settings.model_copy(update={"failover": FailoverSettings(max_concurrency=1)}),
        eng.ec2,
        world.eni_b,
    )
    eng = eng_small
    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.5)  # a few ReplaceRoutes are through; the rest wait in line
    assert t.advance(now_stamp(), "BACKUP")  # BACKUP arrives
    th.join(timeout=15)
    assert "superseded" in result, result
    # with one worker, 6 routes at 0.3 s each would need 1.8 s: it stopped early
    assert counter.calls["ReplaceRoute"] < 6


def test_throttle_gate_pauses_every_caller_and_backs_off() -> None:
    """After a throttle, the next call of that operation waits; the pause grows while
    throttling goes on and is always cut short by the deadline."""
    from awsfailover.aws.retry import ThrottleGate
    from awsfailover.core.deadline import Deadline

    gate = ThrottleGate()
    started = time.monotonic()
    gate.wait(Deadline(5))
    assert time.monotonic() - started < 0.01  # never throttled: no pause
    pauses = []
    for _ in range(4):
        gate.throttled()
        started = time.monotonic()
        gate.wait(Deadline(5))
        pauses.append(time.monotonic() - started)
    assert 0 < pauses[0] < pauses[-1] <= 0.5
    gate.throttled()
    started = time.monotonic()
    gate.wait(Deadline(0.1))
    assert time.monotonic() - started <= 0.1


def test_superseded_between_ipv6_release_and_assign_leaves_no_vip_on_no_eni(env, tmp_path: Path):
    """Issue 17, item 9: a MASTER superseded (a blip: BACKUP, MASTER, BACKUP on the backup)
    while its IPv6 unassign is in flight finishes the move it started; the newer transition
    stops the rest, and the IPv6 VIP is on an ENI when the takeover ends."""
    sim, world = env
    sim.set_faults(latency_by_action={"UnassignIpv6Addresses": 1.0})
    eng, counter = engine_for(world, world.eni_b)
    seq = Sequence("VI_1", tmp_path)
    ticket = now_stamp()
    assert seq.advance(ticket, "MASTER")
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["out"] = eng.takeover(inst(world), Deadline(10), lambda: seq.check(ticket))
        except Superseded as exc:
            result["superseded"] = exc

    th = threading.Thread(target=run)
    th.start()
    time.sleep(0.5)  # the unassign is on its way (1 s), the rest is done
    assert seq.advance(now_stamp(), "BACKUP")
    th.join(timeout=15)
    assert "superseded" in result, result
    assert counter.calls["UnassignIpv6Addresses"] == 1
    ec2 = ec2_client(world.endpoint_url)
    resp = ec2.describe_network_interfaces(
        Filters=[{"Name": "ipv6-addresses.ipv6-address", "Values": [world.vip6]}]
    )
    assert [e["NetworkInterfaceId"] for e in resp["NetworkInterfaces"]] == [world.eni_b]
