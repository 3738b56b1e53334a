"""Two agents in-process with [arbiter], against the local endpoint: the MASTER holds and
renews the lease, the BACKUP watches it; a dead master's lease is taken at once by a watcher
keepalived promotes; a split brain moves nothing on the node without the lease."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.agents import Running, make_agent, sample, wait_for, write_config
from helpers.nodes import mutating_calls

from awsfailover.agent.events import Event, LeaseEvent, SplitBrainEvent
from awsfailover.aws.lease_table import DynamoLeaseTable, make_dynamodb_client
from awsfailover.keepalived.protocol import Transition
from awsfailover.sim import SimClient
from awsfailover.sim.world import (
    REGION,
    VIP4,
    World,
    arbiter_toml,
    create_lease_table,
    ec2_client,
    holder,
)

TTL = 3.0  # the default: its call timeout (ttl/6) has room on a machine busy with tests


@pytest.fixture
def pair(
    env: tuple[SimClient, World], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[SimClient, World, DynamoLeaseTable]]:
    sim, world = env
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", sim.url)
    table = DynamoLeaseTable(make_dynamodb_client(REGION, 2.0), create_lease_table(sim.url))
    yield sim, world, table


def _agent(world: World, eni: str, tmp: Path, name: str, events: list[Event], policy: str = "act"):  # type: ignore[no-untyped-def]
    cfg = write_config(world, eni, tmp, name, top=arbiter_toml(ttl=TTL, on_unreachable=policy))
    return make_agent(cfg, listeners=(events.append,))


def _state(agent, state: str) -> None:  # type: ignore[no-untyped-def]
    agent.dispatch(Transition("INSTANCE", "VI_1", state), "test")


def _finished(agent, result: str) -> float:  # type: ignore[no-untyped-def]
    return sample(agent, "awsfailover_takeovers_total", instance="VI_1", result=result)


def test_the_master_renews_every_third_of_a_ttl_and_the_backup_looks_twice_as_often(
    pair: tuple[SimClient, World, DynamoLeaseTable], tmp_path: Path
) -> None:
    sim, world, table = pair
    ea: list[Event] = []
    eb: list[Event] = []
    with (
        Running(_agent(world, world.eni_a, tmp_path, "a", ea)) as a,
        Running(_agent(world, world.eni_b, tmp_path, "b", eb)) as b,
    ):
        _state(a, "MASTER")
        _state(b, "BACKUP")
        assert wait_for(lambda: sample(a, "awsfailover_lease_held", instance="VI_1") == 1)
        time.sleep(TTL)  # both keepers in their stride
        sim.reset_calls()
        first = table.read("lab/VI_1", 1)
        window = 6.0
        time.sleep(window)
        last = table.read("lab/VI_1", 1)
        calls = sim.calls()
    assert first is not None and last is not None and last.holder == world.eni_a
    renewals = last.counter - first.counter
    writes = calls.get("dynamodb:UpdateItem", 0) / window
    reads = (calls.get("dynamodb:GetItem", 0) - 2) / window  # less the test's own two
    print(
        f"ttl {TTL}s: {renewals} renewals in {window}s; {writes:.2f} writes/s, {reads:.2f} reads/s"
    )
    assert abs(renewals - window / (TTL / 3)) <= 1.5, renewals
    assert abs(writes - 1 / (TTL / 3)) <= 0.3, writes
    assert abs(reads - 1 / (TTL / 6)) <= 0.6, reads
    assert sample(a, "awsfailover_lease_token", instance="VI_1") == 1


def test_a_dead_masters_lease_is_taken_at_once_by_the_watching_backup(
    pair: tuple[SimClient, World, DynamoLeaseTable], tmp_path: Path, caplog
) -> None:
    sim, world, table = pair
    ec2 = ec2_client(world.endpoint_url)
    ea: list[Event] = []
    eb: list[Event] = []
    with Running(_agent(world, world.eni_b, tmp_path, "b", eb)) as b:
        with Running(_agent(world, world.eni_a, tmp_path, "a", ea)) as a:
            _state(a, "MASTER")
            _state(b, "BACKUP")
            assert wait_for(lambda: sample(a, "awsfailover_lease_held", instance="VI_1") == 1)
        # a's agent (and keepalived) died: no release, no more renewals. keepalived promotes
        # b after its master-down interval, by which time b has seen the lease stale.
        time.sleep(TTL + 0.5)
        caplog.set_level(logging.INFO, logger="awsfailover.failover.arbiter")
        caplog.clear()
        _state(b, "MASTER")
        assert wait_for(lambda: _finished(b, "converged") == 1)
    assert holder(ec2, VIP4) == [world.eni_b]
    rec = table.read("lab/VI_1", 1)
    assert rec is not None and rec.holder == world.eni_b and rec.token == 2
    waited = [float(w) for w in re.findall(r"token 2 \(waited ([0-9.]+)s\)", caplog.text)]
    assert waited and waited[0] < 0.2, waited
    assert any(isinstance(e, LeaseEvent) and e.what == "taken" and e.token == 2 for e in eb)


def test_split_brain_the_node_without_the_lease_moves_nothing_and_says_so(
    pair: tuple[SimClient, World, DynamoLeaseTable], tmp_path: Path
) -> None:
    sim, world, table = pair
    ec2 = ec2_client(world.endpoint_url)
    ea: list[Event] = []
    eb: list[Event] = []
    with (
        Running(_agent(world, world.eni_a, tmp_path, "a", ea)) as a,
        Running(_agent(world, world.eni_b, tmp_path, "b", eb)) as b,
    ):
        _state(a, "MASTER")
        assert wait_for(lambda: sample(a, "awsfailover_lease_held", instance="VI_1") == 1)
        sim.reset_calls()
        _state(b, "MASTER")  # VRRP cut: both MASTER, a alive and renewing
        assert wait_for(lambda: _finished(b, "refused") == 1, timeout=15)
        assert sample(b, "awsfailover_split_brain", instance="VI_1") == 1
        time.sleep(2 * TTL)  # b keeps watching; it never takes a live lease
        assert mutating_calls(sim) == 0
        # b's reconcile sees "drift" (everything is on a): the repair is refused at once,
        # not after another takeover deadline (5 s) of waiting on a lease it watches anyway
        assert wait_for(b.workers["VI_1"].idle, timeout=15)
        refused = _finished(b, "refused")
        b.reconcile()
        assert wait_for(lambda: _finished(b, "refused") > refused, timeout=1.5)
        assert wait_for(b.workers["VI_1"].idle, timeout=1.0)
        assert holder(ec2, VIP4) == [world.eni_a]
        flagged = [e for e in eb if isinstance(e, SplitBrainEvent) and e.status == "lease_held"]
        assert len(flagged) == 1 and flagged[0].holder == world.eni_a
        # the path heals: keepalived demotes b, and nothing moves
        _state(b, "BACKUP")
        assert wait_for(lambda: sample(b, "awsfailover_split_brain", instance="VI_1") == 0)
        time.sleep(TTL)
        assert mutating_calls(sim) == 0
        assert sample(b, "awsfailover_lease_held", instance="VI_1") == 0
        rec = table.read("lab/VI_1", 1)
        assert rec is not None and rec.holder == world.eni_a and rec.token == 1


def test_a_refused_master_takes_over_once_the_holder_is_demoted(
    pair: tuple[SimClient, World, DynamoLeaseTable], tmp_path: Path
) -> None:
    sim, world, table = pair
    ec2 = ec2_client(world.endpoint_url)
    ea: list[Event] = []
    eb: list[Event] = []
    with (
        Running(_agent(world, world.eni_a, tmp_path, "a", ea)) as a,
        Running(_agent(world, world.eni_b, tmp_path, "b", eb)) as b,
    ):
        _state(a, "MASTER")
        assert wait_for(lambda: sample(a, "awsfailover_lease_held", instance="VI_1") == 1)
        _state(b, "MASTER")
        assert wait_for(lambda: _finished(b, "refused") == 1, timeout=15)
        _state(a, "BACKUP")  # keepalived kept b: a releases, b's keeper sees it free
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b], timeout=10)
        assert wait_for(lambda: sample(b, "awsfailover_split_brain", instance="VI_1") == 0)
    rec = table.read("lab/VI_1", 1)
    assert rec is not None and rec.holder == world.eni_b and rec.token == 2


@pytest.mark.parametrize(("policy", "moves"), [("act", True), ("hold", False)])
def test_an_agent_meeting_an_unreachable_table(
    pair: tuple[SimClient, World, DynamoLeaseTable],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    policy: str,
    moves: bool,
) -> None:
    sim, world, _table = pair
    ec2 = ec2_client(world.endpoint_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9/")
    eb: list[Event] = []
    with Running(_agent(world, world.eni_b, tmp_path, "b", eb, policy)) as b:
        _state(b, "MASTER")
        result = "converged" if moves else "refused"
        assert wait_for(lambda: _finished(b, result) == 1, timeout=15)
        assert sample(b, "awsfailover_arbiter_unreachable_total", instance="VI_1") == 1
    assert (holder(ec2, VIP4) == [world.eni_b]) is moves
