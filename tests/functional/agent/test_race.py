"""Randomised races: keepalived flips a pair back and forth, transitions 0-50 ms apart, each
delivered late by 0-50 ms; EC2 must always end on keepalived's last MASTER.

keepalived is modelled as it behaves: for each transition of a node it forks the notify
script and (with the agent) writes the FIFO line, in that node's order. What is random is
delivery: a hook's interpreter starts 0-50 ms late (`sleep` before `exec`, which keeps the
PID and the kernel's start time, exactly like a slow Python start), and with the agent the
FIFO line leads or trails its hook by up to 50 ms, never past the node's next transition.
keepalived also repeats a MASTER now and then (duplicates), and with the agent every
transition arrives twice (FIFO and hook).

Hook-only: every round is a burst of flips, then all hooks must exit 0 and EC2 must be on the
last MASTER at once. Agent: two agents in this process, reconciling every second as deployed:
a call the demoted node had in flight when keepalived demoted it can land after the new
master confirmed (no AWS API orders two nodes' calls), and drift repair puts it back; the
printout says how often that was needed. EC2 must settle on the last MASTER.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from awsfailover.agent.daemon import Agent
from awsfailover.agent.events import TransitionEvent
from awsfailover.config.load import load_settings
from awsfailover.sim import SimClient
from awsfailover.sim.world import ROUTE4, ROUTE6, VIP4, World, ec2_client, holder, route_targets

# 260 per mode, 520 in all (1,040 deliveries counting the agent's two channels): each hook is
# a real process (~0.15 s of CPU), so this is what fits in `make test`. Raise it to soak.
TRANSITIONS = int(os.environ.get("AWSFAILOVER_RACE_TRANSITIONS", "260"))
SEED = int(os.environ.get("AWSFAILOVER_RACE_SEED", "20261123"))
# Bounded by what it waits for: each transition is a real hook process (~0.15 s of CPU, and
# seconds of wall time on a machine at load 14), not by pytest's default 120 s guess.
pytestmark = pytest.mark.timeout(max(120, 2 * TRANSITIONS))


@dataclass
class Side:
    name: str
    eni: str
    config: Path
    fifo: Path | None = None
    fifo_fh: object = None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)


def node(world: World, tmp: Path, name: str, eni: str, agent: bool) -> Side:
    d = tmp / name
    d.mkdir()
    extra = (
        f'[agent]\nfifo = "{d}/notify.fifo"\nsocket = "{d}/agent.sock"\n'
        'metrics_address = ""\nreconcile_interval = 1\ntakeover_deadline = 10\n'
        if agent
        else f'[agent]\nsocket = "{d}/no-agent.sock"\n'
    )
    cfg = d / "config.toml"
    cfg.write_text(world.config_toml(eni, state_dir=d / "run") + extra)
    return Side(name, eni, cfg, fifo=(d / "notify.fifo") if agent else None)


def hook(side: Side, state: str, late: float) -> None:
    side.procs.append(
        subprocess.Popen(
            [
                "sh",
                "-c",
                f'sleep {late:.3f}; exec "$0" "$@"',
                sys.executable,
                "-m",
                "awsfailover",
                "--config",
                str(side.config),
                "notify",
                "INSTANCE",
                "VI_1",
                state,
                "100",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    )


def on(ec2, world: World, eni: str) -> bool:  # type: ignore[no-untyped-def]
    if holder(ec2, VIP4) != [eni] or holder(ec2, world.vip6) != [eni]:
        return False
    for rtb in world.rtb_clients:
        targets = route_targets(ec2, rtb)
        if {targets[ROUTE4], targets[ROUTE6], targets[world.prefix_list]} != {eni}:
            return False
    return True


def schedule(rng: random.Random, flips: int, master: Side, backup: Side) -> list[tuple]:
    """One burst: (offset s, side, state) in keepalived's emission order."""
    events: list[tuple] = []
    t = 0.0
    for _ in range(flips):
        master, backup = backup, master
        pair = [(master, "MASTER"), (backup, "BACKUP")]
        rng.shuffle(pair)
        for side, state in pair:
            events.append((t, side, state))
            t += rng.uniform(0, 0.05)
        if rng.random() < 0.2:  # keepalived repeats a MASTER (a reload, a priority change)
            events.append((t, master, "MASTER"))
            t += rng.uniform(0, 0.05)
    return events


Later = tuple[float, Callable[[], None]]  # (seconds from now, what to do then)


def play(
    rng: random.Random,
    events: list[tuple],
    emit: Callable[[Side, str, float, float], Later | None],
) -> None:
    """Emit in order; an emission may leave part of itself for later (a FIFO line trailing its
    hook), done in this thread when due and always before its side's next emission: keepalived
    writes its FIFO lines in order, and a timer thread that a busy machine wakes late would
    not (that broke the agent test's premise once: a MASTER line written after the BACKUP)."""
    start = time.monotonic()
    pending: list[tuple[float, Side, Callable[[], None]]] = []

    def flush(side: Side | None) -> None:
        now = time.monotonic()
        for item in list(pending):
            if item[1] is side or item[0] <= now:
                pending.remove(item)
                item[2]()

    for i, (t, side, state) in enumerate(events):
        nxt = next((e[0] for e in events[i + 1 :] if e[1] is side), t + 0.05)
        while (delay := t - (time.monotonic() - start)) > 0:
            due = min((p[0] for p in pending), default=None)
            time.sleep(delay if due is None else max(0.0, min(delay, due - time.monotonic())))
            flush(None)
        flush(side)
        later = emit(side, state, rng.uniform(0, 0.05), max(0.0, nxt - t))
        if later is not None:
            pending.append((time.monotonic() + later[0], side, later[1]))
    for _due, _side, fn in sorted(pending, key=lambda p: p[0]):
        fn()


def finish(sides: list[Side]) -> None:
    for s in sides:
        for p in s.procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err.decode()[-2000:]
        s.procs.clear()


def last_calls(sim: SimClient, since: float) -> dict[str, float]:
    """ENI -> when it last made a mutating call that EC2 applied, since `since` (an ENI's own
    calls name it: assign, replace-route, associate; an unassign names the other node's)."""
    out: dict[str, float] = {}
    for at, action, eni, outcome in sim.journal():
        if at >= since and outcome == "ok" and action != "UnassignIpv6Addresses":
            out[eni] = max(out.get(eni, 0.0), at)
    return out


def diagnose(sim: SimClient, since: float, last: Side, other: Side) -> tuple[bool, str]:
    """Why EC2 is not on the last MASTER: (premise, text). premise: the demoted node's last
    call landed after the last master's last call, which no AWS API orders and a hook alone
    (no reconcile loop) cannot repair; otherwise the last master did not converge: a fault."""
    calls = last_calls(sim, since)
    mine, theirs = calls.get(last.eni), calls.get(other.eni)
    if theirs is not None and (mine is None or theirs > mine):
        late = theirs - mine if mine is not None else float("nan")
        return True, (
            f"premise broken: {other.name}'s last mutating call landed {late:.3f}s after "
            f"{last.name}'s last one; {other.name} had been demoted, but its BACKUP hook had "
            "not yet told its MASTER hook (the machine was too slow for the 0-50 ms schedule)"
        )
    return False, f"product fault: {last.name}'s hook made the last call yet EC2 is elsewhere"


def test_hook_only_bursts_end_on_the_last_master(
    world: World, sim: SimClient, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    ec2 = ec2_client(world.endpoint_url)
    a = node(world, tmp_path, "a", world.eni_a, agent=False)
    b = node(world, tmp_path, "b", world.eni_b, agent=False)
    master, backup = a, b  # the world starts on A
    sent = rounds = 0
    broken: list[str] = []
    while sent < TRANSITIONS:
        events = schedule(rng, rng.randint(1, 16), master, backup)
        last = next(side for _t, side, state in reversed(events) if state == "MASTER")
        master, backup = last, (b if last is a else a)
        since = time.monotonic()
        play(rng, events, lambda side, state, late, _gap: hook(side, state, late))
        finish([a, b])
        if not on(ec2, world, last.eni):
            premise, why = diagnose(sim, since, last, backup)
            assert premise, f"round {rounds} (seed {SEED}): not on {last.name}: {why}"
            broken.append(f"round {rounds}: {why}")
            # what keepalived's next transition would do: the last master acts again
            hook(last, "MASTER", 0.0)
            finish([last])
            assert on(ec2, world, last.eni), f"round {rounds}: a new MASTER did not converge"
        sent += len(events)
        rounds += 1
    for line in broken:
        print(line)
    # every round whose premise held ended on the last MASTER; a run where none held says
    # nothing about the product
    assert len(broken) < rounds, f"the premise broke in all {rounds} rounds: machine too busy"
    print(
        f"hook-only: {sent} transitions in {rounds} rounds; {rounds - len(broken)} on the last "
        f"MASTER, {len(broken)} with the cross-node premise broken (reported above)"
    )


def test_agent_both_channels_end_on_the_last_master(
    world: World, sim: SimClient, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 1)
    ec2 = ec2_client(world.endpoint_url)
    a = node(world, tmp_path, "a", world.eni_a, agent=True)
    b = node(world, tmp_path, "b", world.eni_b, agent=True)
    agents, threads = [], []
    accepted: dict[str, list[TransitionEvent]] = {"a": [], "b": []}
    for s in (a, b):
        ag = Agent(
            load_settings(str(s.config)),
            config_path=str(s.config),
            registry=CollectorRegistry(),
            addresses=lambda _i: set(),
            listeners=(
                lambda e, seen=accepted[s.name]: (
                    seen.append(e)
                    if isinstance(e, TransitionEvent) and e.generation is not None
                    else None
                ),
            ),
        )
        th = threading.Thread(target=ag.run, daemon=True)
        th.start()
        assert ag.ready.wait(20)
        agents.append(ag)
        threads.append(th)
        assert s.fifo is not None
        s.fifo_fh = s.fifo.open("w", buffering=1)
    emitted: dict[str, str] = {}

    def emit(side: Side, state: str, jitter: float, gap: float) -> Later | None:
        line = f'INSTANCE "VI_1" {state} 100\n'
        emitted[side.name] = state

        def write() -> None:
            side.fifo_fh.write(line)  # type: ignore[attr-defined]

        if rng.random() < 0.5:  # FIFO first, the hook's interpreter late
            write()
            hook(side, state, jitter)
            return None
        # hook first, the FIFO line before this side's next transition
        hook(side, state, 0.0)
        return min(jitter, gap * 0.9), write

    def beliefs() -> str:
        """What each agent followed last, against what keepalived emitted last for it."""
        out = []
        for ag, side in zip(agents, (a, b), strict=True):
            seen = accepted[side.name][-3:]
            damped = ag.registry.get_sample_value("awsfailover_split_brain", {"instance": "VI_1"})
            out.append(
                f"{side.name}: emitted last {emitted.get(side.name)}, worker "
                f"{ag.workers['VI_1'].role}, split_brain {damped}, accepted last "
                + ", ".join(f"{e.state}/{e.source}/{e.stamp}" for e in seen)
            )
        return "; ".join(out)

    def idle() -> bool:
        return all(w.idle() for ag in agents for w in ag.workers.values())

    try:
        master, backup = a, b
        sent = rounds = 0
        while sent < TRANSITIONS:
            events = schedule(rng, rng.randint(1, 16), master, backup)
            last = next(side for _t, side, state in reversed(events) if state == "MASTER")
            master, backup = last, (b if last is a else a)
            since = time.monotonic()
            play(rng, events, emit)
            finish([a, b])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not (idle() and on(ec2, world, last.eni)):
                time.sleep(0.05)
            assert idle() and on(ec2, world, last.eni), (
                f"round {rounds} (seed {SEED + 1}): not on {last.name}; {beliefs()}; "
                f"{diagnose(sim, since, last, backup)[1]}"
            )
            sent += len(events)
            rounds += 1
        hooks = sum(
            ag.registry.get_sample_value("awsfailover_transitions_total", {"source": "hook"}) or 0
            for ag in agents
        )
        overtaken = sum(
            ag.registry.get_sample_value(
                "awsfailover_transitions_total", {"source": "hook-overtaken"}
            )
            or 0
            for ag in agents
        )
        repairs = sum(
            ag.registry.get_sample_value("awsfailover_drift_repairs_total", {"instance": "VI_1"})
            or 0
            for ag in agents
        )
        print(
            f"agent: {sent} transitions x 2 channels in {rounds} rounds; hooks acted on "
            f"{hooks:.0f}, found {overtaken:.0f} already delivered by the FIFO; "
            f"{repairs:.0f} drift repairs"
        )
    finally:
        for s in (a, b):
            if s.fifo_fh is not None:
                s.fifo_fh.close()  # type: ignore[attr-defined]
        for ag in agents:
            ag.request_stop()
        for th in threads:
            th.join(timeout=20)
