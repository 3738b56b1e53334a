"""Issue 20: the hook without an agent sends its own `transition` and `takeover.finished`,
only after its work, within a second in all; a webhook that never answers costs the hook at
most that second, and the failover itself nothing."""

from __future__ import annotations

import time
from pathlib import Path

from helpers.nodes import Node
from helpers.webhook import Receiver

from awsfailover.agent.sinks.once import ONCE_BUDGET
from awsfailover.sim.world import VIP4, World, ec2_client, holder

FIELDS = {"version", "id", "time", "type", "group", "node", "instance"}


def with_webhook(node: Node, url: str) -> None:
    node.config.write_text(node.config.read_text() + f'\n[events]\nwebhook_url = "{url}"\n')


def test_the_hook_sends_its_transition_and_takeover(
    world: World, tmp_path: Path, receiver: Receiver
) -> None:
    node = Node(world, world.eni_b, tmp_path, "b")
    with_webhook(node, receiver.url)
    r = node.master()
    assert r.code == 0, r.err
    assert holder(ec2_client(world.endpoint_url), VIP4) == [world.eni_b]
    docs = [d for d, _s, _b in receiver.got]
    assert [d["type"] for d in docs] == ["transition", "takeover.finished"], docs
    trans, done = docs
    assert set(trans) >= FIELDS and set(done) >= FIELDS
    assert (trans["state"], trans["channel"], trans["instance"]) == ("MASTER", "hook", "VI_1")
    assert done["complete"] is True and done["result"] == "converged"
    assert "vip 10.0.1.100" in done["moved"] and done["mutating_calls"] > 0
    assert isinstance(done["seconds"], float) and done["node"] == world.eni_b
    receiver.got.clear()
    assert node.run("notify", "INSTANCE", "VI_1", "BACKUP", "100").code == 0
    assert [(d["type"], d["state"]) for d, _s, _b in receiver.got] == [("transition", "BACKUP")]


def test_a_webhook_that_never_answers_costs_the_hook_at_most_its_budget(
    world: World, tmp_path: Path
) -> None:
    dead = Receiver(answer=False)
    try:
        times = {}
        for label in ("none", "dead", "none", "dead"):
            node = Node(world, world.eni_b if label == "none" else world.eni_a, tmp_path, label)
            if label == "dead":
                with_webhook(node, dead.url)
            started = time.monotonic()
            r = node.master()
            took = time.monotonic() - started
            assert r.code == 0, r.err
            times.setdefault(label, []).append(took)
            if label == "dead":
                assert "events to webhook: 0 of 2 sent within 1.0s" in r.err, r.err
        # the same takeover (each node moves everything to itself) with and without the
        # dead sink: the difference is the budget the hook gives its events, not more
        extra = min(times["dead"]) - min(times["none"])
        print(f"\nhook with a dead webhook: +{extra:.2f}s (budget {ONCE_BUDGET}s)")
        assert extra < ONCE_BUDGET + 0.5, times
    finally:
        dead.close()
