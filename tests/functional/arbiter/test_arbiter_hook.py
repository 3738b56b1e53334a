"""The notify hook (no agent) with [arbiter], against the local endpoint: it takes the
instance's lease before moving, waits out a stale one, moves nothing while another node keeps
renewing it, and follows on_unreachable when the table does not answer."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.nodes import Node, mutating_calls
from helpers.webhook import Receiver

from awsfailover.aws.lease_table import DynamoLeaseTable, make_dynamodb_client
from awsfailover.core.lease import Lease
from awsfailover.errors import TransientError
from awsfailover.sim import SimClient
from awsfailover.sim.world import REGION, VIP4, World, arbiter_toml, create_lease_table, holder

TTL = 1.5


@pytest.fixture
def table(sim: SimClient, monkeypatch: pytest.MonkeyPatch) -> DynamoLeaseTable:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", sim.url)
    return DynamoLeaseTable(make_dynamodb_client(REGION, 2.0), create_lease_table(sim.url))


def _node(
    world: World, eni: str, tmp: Path, name: str, policy: str = "act", ttl: float = TTL
) -> Node:
    return Node(world, eni, tmp, name, extra=arbiter_toml(ttl=ttl, on_unreachable=policy))


# a's renewals in this process must keep coming on a machine busy with other tests: a ttl
# with room for a late renewal or two, and a renewal that fails is tried again
LIVE_TTL = 3.0


@pytest.fixture
def renewing_a(table: DynamoLeaseTable, world: World) -> Iterator[Lease]:
    """Node a's agent, as far as the table sees it: holds VI_1's lease, renews every ttl/3."""
    lease = Lease(table, "lab/VI_1", world.eni_a, LIVE_TTL)
    lease.look(1)
    lease.take(1)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(LIVE_TTL / 3):
            with contextlib.suppress(TransientError):
                lease.renew(1)

    t = threading.Thread(target=renew, daemon=True)
    t.start()
    yield lease
    stop.set()
    t.join(5)


def test_the_hook_takes_the_lease_and_logs_its_token_with_each_call(
    table: DynamoLeaseTable, world: World, ec2, tmp_path: Path
) -> None:
    b = _node(world, world.eni_b, tmp_path, "b")  # the world starts on a: b moves it all
    r = b.master()
    assert r.code == 0, r.err
    assert holder(ec2, VIP4) == [world.eni_b]
    rec = table.read("lab/VI_1", 1)
    assert rec is not None and rec.holder == world.eni_b and rec.token == 1
    planned = re.findall(r"INFO awsfailover.failover.engine: VI_1: (.+)", r.err)
    done = re.findall(r"VI_1: (.+): done \(lease token 1\)", r.err)
    assert len(done) >= 3 and sorted(done) == sorted(planned), (planned, done)


def test_a_hook_waits_out_a_stale_lease_then_takes_it(
    table: DynamoLeaseTable, world: World, ec2, sim: SimClient, tmp_path: Path
) -> None:
    a, b = _node(world, world.eni_a, tmp_path, "a"), _node(world, world.eni_b, tmp_path, "b")
    assert a.master().code == 0  # a's hook took the lease; nobody renews it (no agent)
    started = time.monotonic()
    r = b.master()
    took = time.monotonic() - started
    assert r.code == 0, r.err
    assert holder(ec2, VIP4) == [world.eni_b]
    rec = table.read("lab/VI_1", 1)
    assert rec is not None and rec.holder == world.eni_b and rec.token == 2
    waited = float(re.search(r"lease taken, token 2 \(waited ([0-9.]+)s\)", r.err).group(1))  # type: ignore[union-attr]
    # a hook has not watched the lease: it sees it unchanged for a full ttl first
    assert TTL <= waited <= TTL + 0.5, waited
    assert took >= TTL


def test_a_hook_moves_nothing_while_another_node_renews_the_lease(
    renewing_a: Lease, world: World, ec2, sim: SimClient, tmp_path: Path, receiver: Receiver
) -> None:
    b = _node(world, world.eni_b, tmp_path, "b", ttl=LIVE_TTL)
    b.config.write_text(b.config.read_text() + f'\n[events]\nwebhook_url = "{receiver.url}"\n')
    before = holder(ec2, VIP4)
    sim.reset_calls()
    r = b.master()
    assert r.code == 1
    assert f"lease held by {world.eni_a}" in r.err and "nothing moved" in r.err
    assert mutating_calls(sim) == 0
    assert holder(ec2, VIP4) == before
    # a hook without an agent says it too, at the webhook, after its work
    docs = [(d["type"], d.get("status") or d.get("result")) for d, _s, _b in receiver.got]
    assert docs == [
        ("transition", None),
        ("split_brain", "lease_held"),
        ("takeover.finished", "refused"),
    ], docs
    assert receiver.got[1][0]["holder"] == world.eni_a


@pytest.mark.parametrize("fault", ["refused", "hanging"])
@pytest.mark.parametrize("policy", ["act", "hold"])
def test_an_unreachable_table_is_the_policys(
    table: DynamoLeaseTable,
    world: World,
    ec2,
    sim: SimClient,
    tmp_path: Path,
    fault: str,
    policy: str,
) -> None:
    b = _node(world, world.eni_b, tmp_path, "b", policy)
    env = {}
    if fault == "refused":
        env["AWS_ENDPOINT_URL_DYNAMODB"] = "http://127.0.0.1:9/"
    else:
        sim.set_faults(dynamodb_delay=30.0)
    before = holder(ec2, VIP4)
    sim.reset_calls()
    started = time.monotonic()
    r = b.master(env=env)
    took = time.monotonic() - started
    if policy == "act":
        assert r.code == 0, r.err
        assert holder(ec2, VIP4) == [world.eni_b]
        assert len(re.findall("arbiter unreachable", r.err)) == 1, r.err
        assert "acting WITHOUT the lease" in r.err
    else:
        assert r.code == 1
        assert "on_unreachable = hold: nothing moved" in r.err
        assert mutating_calls(sim) == 0 and holder(ec2, VIP4) == before
    # one lease call's bound (ttl/6) at most is what a hanging table costs, well inside
    # the deadline (10 s); the process start is most of `took`
    assert took < 10.0, took


def test_status_shows_each_instances_lease(
    table: DynamoLeaseTable, world: World, tmp_path: Path
) -> None:
    a, b = _node(world, world.eni_a, tmp_path, "a"), _node(world, world.eni_b, tmp_path, "b")
    r = b.run("status")
    assert "  lease lab/VI_1: free\n" in r.out, r.out  # no item yet
    assert b.master().code == 0
    r = b.run("status")
    assert f"  lease lab/VI_1: held by {world.eni_b} (this node), token 1\n" in r.out, r.out
    doc = json.loads(a.run("status", "--json").out)["instances"][0]["lease"]
    assert doc == {"id": "lab/VI_1", "holder": world.eni_b, "token": 1, "this_node": False}
