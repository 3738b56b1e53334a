"""Real keepalived in network namespaces, each node running awsfailover (hook, or agent)
against the local EC2 endpoint on the lab's bridge. Each test asserts the EC2 state the
endpoint ends in, and reports the time from the fault to that state."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from urllib.parse import urlparse

import pytest
from helpers.nodes import need
from helpers.timings import E2E_TIMINGS

from awsfailover.sim.floor import client_build_seconds
from awsfailover.sim.lab import Lab, LabNode, missing_requirements, sh, wait_for

ADVERT = 1.0
MASTER_DOWN = 3 * ADVERT  # + skew (256 - priority) / 256 * advert_int
MASTER_DOWN_100 = MASTER_DOWN + (256 - 100) / 256 * ADVERT  # the backup at priority 100


def client_floor(runs: int = 3) -> float:
    """Median of a bare interpreter building the EC2 client: a cold hook's floor, now."""
    return sorted(client_build_seconds() for _ in range(runs))[runs // 2]


@pytest.fixture
def lab() -> Iterator[Callable[..., Lab]]:
    missing = missing_requirements()
    if missing:
        need(f"keepalived end-to-end tests {missing}")
    labs: list[Lab] = []

    def start(priorities: list[int], **kw: object) -> Lab:
        lab = Lab.start(priorities, **kw)  # type: ignore[arg-type]
        labs.append(lab)
        for n in lab.nodes:
            lab.start_node(n)
        return lab

    yield start
    for lab in labs:
        lab.close()


def settle(lab: Lab, node: LabNode) -> None:
    """Wait until node is the only keepalived MASTER and EC2 is converged on it."""
    ok = wait_for(lambda: lab.masters() == [node.name] and lab.converged_on(node), 30)
    assert ok is not None, f"{node.name} never settled as master; masters={lab.masters()}"


def report(test: str, what: str, master: float | None, converged: float | None) -> float:
    assert converged is not None, f"{test}: {what}: EC2 never converged"
    m = f"{master:.2f}s" if master is not None else "-"
    E2E_TIMINGS.append(
        f"{test}: {what}: keepalived MASTER after {m}, EC2 converged after {converged:.2f}s"
    )
    return converged


@pytest.mark.parametrize(
    ("mode", "nopreempt"),
    [("hook", False), ("hook", True), ("agent", False)],
    ids=["hook", "hook-nopreempt", "agent"],
)
def test_pair_master_killed_then_returns(
    lab: Callable[..., Lab], mode: str, nopreempt: bool
) -> None:
    lb = lab([150, 100], use_agent=mode == "agent", nopreempt=nopreempt)
    a, b = lb.nodes
    # issue 23: the cold hook alone converges within the master-down interval plus 1.3 times
    # a bare interpreter building the EC2 client, measured beside it (the hook reads the
    # config cache keepalived-config left, so even this first MASTER skips pydantic). One
    # kill is one sample of a ~0.4 s hook on a shared 2-core machine: the median of three.
    goal_kills = 3 if mode == "hook" and not nopreempt else 1
    converged, floors = [], []
    for _ in range(goal_kills):
        settle(lb, a)
        if goal_kills > 1:
            floors.append(client_floor())
        lb.kill_keepalived(a)
        converged.append(report(f"pair[{mode}]", "master killed", *lb.measure(b)))
        assert lb.masters() == ["n1"]
        lb.start_node(a)
        if nopreempt:
            # the returning node must stay BACKUP: give it well over the master-down interval
            time.sleep(MASTER_DOWN + 3)
            assert lb.masters() == ["n1"]
            assert lb.converged_on(b)
        else:
            report(f"pair[{mode}]", "old master returns (preempt)", *lb.measure(a))
    if floors:
        conv, floor = sorted(converged)[1], sorted(floors)[1]
        goal = MASTER_DOWN_100 + 1.3 * floor
        E2E_TIMINGS.append(
            f"pair[{mode}]: EC2 converged {conv:.2f}s after the kill (median of "
            f"{[round(c, 2) for c in converged]}); a bare interpreter building the EC2 client "
            f"{floor:.2f}s (median of {[round(f, 2) for f in floors]}); issue 23's goal "
            f"{goal:.2f}s"
        )
        assert conv <= goal, (converged, floors)
    if not nopreempt:
        settle(lb, a)


def test_an_agent_outliving_its_keepalived_does_not_pull_ec2_back(
    lab: Callable[..., Lab],
) -> None:
    """Issue 17, item 5: the master's keepalived is killed and its agent keeps running. EC2
    settles on the peer and stays there for 3 reconcile intervals of the orphaned agent."""
    interval = 2.0
    lb = lab([150, 100], use_agent=True, agent_extra=f"reconcile_interval = {interval}\n")
    a, b = lb.nodes
    settle(lb, a)
    time.sleep(interval + 0.5)  # a's agent has seen its keepalived alive at least once
    lb.kill_keepalived(a)  # keepalived only: a's agent lives on
    report("pair[agent]", "master's keepalived killed, its agent alive", *lb.measure(b))
    end = time.monotonic() + 3 * interval + 1
    while time.monotonic() < end:
        assert lb.masters() == ["n1"]
        assert lb.converged_on(b), "the orphaned agent pulled EC2 back"
        time.sleep(0.5)
    assert a.agent is not None and a.agent.poll() is None  # it was running all along


def test_an_unhealthy_agent_hands_mastership_over(lab: Callable[..., Lab]) -> None:
    """Issue 19: the agent's health reaches keepalived through its track file, with no
    process started per check. The master's agent loses EC2 (a blackhole route to the
    endpoint in its namespace), writes 1, keepalived takes 50 off its priority (150 -> 100,
    below the peer's 120) and the peer takes over EC2; healthy again, the master preempts
    back. The file is root's, in the node's state_dir."""
    lb = lab([150, 120], use_agent=True, agent_extra="reconcile_interval = 1\n")
    a, b = lb.nodes
    settle(lb, a)
    endpoint = f"{urlparse(lb.url).hostname}/32"
    health = a.dir / "run" / "agent-health"
    assert health.read_text() == "0\n"
    sh("ip", "-n", a.ns, "route", "add", "blackhole", endpoint)
    try:
        master, converged = lb.measure(b, timeout=60)
        report("health", "master's agent lost EC2 (health file 1)", master, converged)
        assert health.read_text() == "1\n"
    finally:
        sh("ip", "-n", a.ns, "route", "del", "blackhole", endpoint)
    report("health", "its agent healthy again (health file 0)", *lb.measure(a, timeout=60))
    assert health.read_text() == "0\n"
    settle(lb, a)


def test_a_kill_is_told_at_a_webhook() -> None:
    """Issue 20: the peer's agent tells a webhook (on the lab's bridge, where the nodes reach
    the endpoint) its `transition` to MASTER and then its `takeover.finished`, with the
    seconds it measured."""
    from helpers.webhook import Receiver

    missing = missing_requirements()
    if missing:
        need(f"keepalived end-to-end tests {missing}")
    lb = Lab.start([150, 100], use_agent=True)
    host = urlparse(lb.url).hostname or ""
    receiver = Receiver(host=host)
    try:
        for n in lb.nodes:
            n.config.write_text(
                n.config.read_text() + f'\n[events]\nwebhook_url = "{receiver.url}"\n'
            )
            lb.start_node(n)
        a, b = lb.nodes
        settle(lb, a)
        receiver.got.clear()
        lb.kill_keepalived(a)
        converged = report("events", "master killed", *lb.measure(b))

        def told() -> list[dict[str, object]]:
            return [d for d, _s, _b in receiver.got if d["node"] == b.eni]

        assert wait_for(lambda: "takeover.finished" in [d["type"] for d in told()], 10)
        docs = told()
        types = [d["type"] for d in docs]
        assert types.index("transition") < types.index("takeover.finished"), types
        trans = docs[types.index("transition")]
        done = docs[types.index("takeover.finished")]
        assert (trans["state"], trans["instance"]) == ("MASTER", "VI_1"), trans
        assert done["complete"] is True and isinstance(done["seconds"], float), done
        E2E_TIMINGS.append(
            f"events: webhook told transition then takeover.finished ({done['seconds']:.2f}s "
            f"measured by the agent; EC2 converged {converged:.2f}s after the kill)"
        )
        assert done["seconds"] < converged
    finally:
        receiver.close()
        lb.close()


def test_public_gateway_pair_moves_the_eip_on_a_kill_and_a_return(
    lab: Callable[..., Lab],
) -> None:
    """Two-NIC gateways (issue 12): VI_1 on eth0 with routes = "auto", PUB on eth1 with its
    own ENI, a VIP and the Elastic IP. A kill moves all of it to B, the return back to A."""
    lb = lab([150, 100], use_agent=True, public=True)
    a, b = lb.nodes
    settle(lb, a)
    lb.kill_keepalived(a)
    report("public-pair[agent]", "master killed (VIPs, EIP, auto routes)", *lb.measure(b))
    assert lb.masters() == ["n1"]
    lb.start_node(a)
    report("public-pair[agent]", "old master returns (preempt)", *lb.measure(a))
    settle(lb, a)


def test_group_of_three_loses_two_masters(lab: Callable[..., Lab]) -> None:
    lb = lab([150, 100, 50])
    n0, n1, n2 = lb.nodes
    settle(lb, n0)
    lb.kill_keepalived(n0)
    report("group-of-3", "first master killed", *lb.measure(n1))
    settle(lb, n1)
    lb.kill_keepalived(n1)
    report("group-of-3", "second master killed", *lb.measure(n2))
    settle(lb, n2)


def test_link_down_then_up(lab: Callable[..., Lab]) -> None:
    lb = lab([150, 100])
    a, b = lb.nodes
    settle(lb, a)
    sh("ip", "-n", a.ns, "link", "set", "eth0", "down")
    report("link", "master's link down", *lb.measure(b))
    sh("ip", "-n", a.ns, "link", "set", "eth0", "up")
    report("link", "link back up", *lb.measure(a))
    settle(lb, a)  # exactly one master, and EC2 on it


def test_maintenance_hands_over_without_detection_delay(lab: Callable[..., Lab]) -> None:
    lb = lab([150, 100])
    a, b = lb.nodes
    settle(lb, a)
    r = lb.run(a, "maintenance", "on")
    assert r.returncode == 0, r.stderr
    g_master, g_conv = lb.measure(b)
    graceful = report("maintenance", "maintenance on (graceful)", g_master, g_conv)
    assert lb.run(a, "maintenance", "off").returncode == 0
    settle(lb, a)
    lb.kill_keepalived(a)
    k_master, k_conv = lb.measure(b)
    killed = report("maintenance", "master killed (for comparison)", k_master, k_conv)
    E2E_TIMINGS.append(f"maintenance: graceful / kill = {graceful / killed:.2f}")
    assert g_master is not None and k_master is not None
    # A kill is detected master-down after the last advert heard, which was at most one
    # advert interval before the kill; the hand-over (resign advert) waits for neither.
    assert k_master >= MASTER_DOWN - ADVERT
    assert g_master < MASTER_DOWN - ADVERT
    assert graceful < killed


def _cut_vrrp(lb: Lab) -> None:
    """Cut the VRRP path between the nodes but not their path to EC2: each node's neighbour
    entry for its peers points at a MAC nobody has, so unicast adverts are never delivered.
    (keepalived's raw socket is bound to the device and ignores a blackhole route; this
    kernel has no tc actions or netfilter.)"""
    for node in lb.nodes:
        for peer in lb.nodes:
            if peer is not node:
                sh(
                    "ip",
                    "-n",
                    node.ns,
                    "neigh",
                    "replace",
                    peer.ip,
                    "lladdr",
                    "02:00:00:00:af:01",
                    "dev",
                    "eth0",
                    "nud",
                    "permanent",
                )


def test_split_brain_is_damped(lab: Callable[..., Lab]) -> None:
    lb = lab(
        [150, 100],
        use_agent=True,
        agent_extra="reconcile_interval = 1\ndamping_max_moves = 3\ndamping_window = 120",
    )
    a, b = lb.nodes
    settle(lb, a)
    lb.sim.reset_calls()
    _cut_vrrp(lb)
    assert wait_for(lambda: sorted(lb.masters()) == ["n0", "n1"], 15) is not None, lb.masters()
    time.sleep(15)  # both MASTER, each agent's reconcile loop sees the other's "drift"
    moves = lb.sim.calls().get("AssignPrivateIpAddresses", 0)
    flags = [lb.metric(n, "awsfailover_split_brain") for n in lb.nodes]
    E2E_TIMINGS.append(
        f"split-brain: {moves} IPv4 VIP moves in 15 s with both MASTER; split_brain metric {flags}"
    )
    # each node: its own MASTER takeover plus at most damping_max_moves repairs
    assert 1 <= moves <= 2 * (1 + 3)
    assert any(f == 1.0 for f in flags), flags
    time.sleep(3)
    assert lb.sim.calls().get("AssignPrivateIpAddresses", 0) == moves, "ping-pong did not stop"


def _heal_vrrp(lb: Lab, only_from: LabNode | None = None) -> None:
    """Undo _cut_vrrp: every path, or only the adverts of `only_from` to its peers."""
    for node in lb.nodes if only_from is None else [only_from]:
        for peer in lb.nodes:
            if peer is not node:
                sh("ip", "-n", node.ns, "neigh", "del", peer.ip, "dev", "eth0", check=False)


@pytest.mark.parametrize("mode", ["agent", "hook"])
def test_split_brain_heals_the_keepalived_way(lab: Callable[..., Lab], mode: str) -> None:
    """Issue 19, item 2: the VRRP path is cut, both nodes become MASTER and the lower-priority
    one takes EC2. The lower one's adverts reach the rightful master again first, so keepalived
    tells it that it heard a lower priority (MASTER_RX_LOWER_PRI): EC2 is back on it within a
    second of that advert. The agent reconciles every hour here, so a reconcile cannot be what
    fixed it. (When the rightful master's advert arrives first instead, the lower one steps
    down and keepalived says nothing to the rightful master: that case is the reconcile's.)"""
    lb = lab([150, 100], use_agent=mode == "agent", agent_extra="reconcile_interval = 3600\n")
    a, b = lb.nodes
    settle(lb, a)
    _cut_vrrp(lb)
    cut = wait_for(lambda: sorted(lb.masters()) == ["n0", "n1"] and lb.converged_on(b), 20)
    assert cut is not None, f"split brain never put EC2 on {b.name}: masters {lb.masters()}"
    _heal_vrrp(lb, only_from=b)  # b's next advert (within advert_int) reaches a
    back = wait_for(lambda: lb.converged_on(a), 20)
    report(f"heal[{mode}]", "lower master's advert heard (MASTER_RX_LOWER_PRI)", None, back)
    assert back is not None and back <= ADVERT + 1.0, back
    _heal_vrrp(lb)
    settle(lb, a)


SUB_SECOND = 0.2  # advert_int of the sub-second mode (VRRPv3 centiseconds)
STEADY = 60.0  # seconds an idle busy pair must hold still here; `make bench` row 9 holds 600


def test_sub_second_failover_is_steady_under_load(lab: Callable[..., Lab]) -> None:
    """Issue 18, item 2: advert_int 0.2 with the agent and keepalived's own trackers (no
    process started per check). With both cores kept busy (a CPU hog in each node's
    namespace) an idle pair makes no transition for STEADY seconds; then the master's
    keepalived is killed three times: kill to EC2 converged, median at most 1.0 s
    (master-down interval 3 x 0.2 + (256 - 100) / 256 x 0.2 = 0.72 s)."""
    lb = lab([150, 100], use_agent=True, advert_int=SUB_SECOND)
    a, b = lb.nodes
    settle(lb, a)
    with lb.cores_busy():
        marks = [lb.state_changes(n) for n in lb.nodes]
        time.sleep(STEADY)
        flips = [lb.state_changes(n) - m for n, m in zip(lb.nodes, marks, strict=True)]
    E2E_TIMINGS.append(
        f"sub-second: {STEADY:.0f} s idle, both cores busy: {sum(flips)} transitions"
    )
    assert flips == [0, 0], f"false failovers under load: {flips}"
    times = []
    for i in range(3):
        settle(lb, a)
        lb.kill_keepalived(a)
        times.append(report("sub-second", f"master killed ({i + 1})", *lb.measure(b)))
        lb.start_node(a)
    med = sorted(times)[1]
    E2E_TIMINGS.append(f"sub-second: kill -> converged median {med:.2f}s (master-down 0.72 s)")
    assert med <= 1.0, times
    settle(lb, a)


def test_failovers_complete_within_deadline_under_throttling(lab: Callable[..., Lab]) -> None:
    deadline = 5.0  # agent.takeover_deadline (default)
    lb = lab([150, 100], use_agent=True)
    a, b = lb.nodes
    settle(lb, a)
    lb.sim.set_faults(throttle_rate=0.3, error_rate=0.05, seed=7)
    steps: list[tuple[str, Callable[[], None], LabNode]] = [
        ("master killed", lambda: lb.kill_keepalived(a), b),
        ("old master returns", lambda: lb.start_node(a), a),
        ("master killed again", lambda: lb.kill_keepalived(a), b),
    ]
    for what, fault, winner in steps:
        fault()
        master, converged = lb.measure(winner)
        report("throttled 30% + 5% 5xx", what, master, converged)
        assert master is not None and converged is not None
        assert converged - master <= deadline, f"{what}: {converged - master:.2f}s after MASTER"
    calls = lb.sim.outcomes()
    throttled = sum(v for k, v in calls.items() if k.endswith(":throttled"))
    assert throttled > 0, calls  # the faults were really in effect


# --- issue 21: the lease arbiter ---------------------------------------------------------------

LEASE_TTL = 3.0  # the default: at most the master-down interval at advert_int 1 (3.41-3.61 s)


def _moves_by(lb: Lab, node: LabNode) -> int:
    """Mutating calls naming node's ENI since the last reset: the calls node made (a node
    only ever moves things to itself)."""
    return sum(1 for _t, _action, eni, _out in lb.sim.journal() if eni == node.eni)


def _split_brain(lb: Lab, seconds: float) -> tuple[int, int]:
    """Cut the VRRP path of a settled pair (a master, b backup), hold it `seconds` with both
    MASTER, and return the mutating calls (a's, b's) meanwhile."""
    a, b = lb.nodes
    settle(lb, a)
    lb.sim.reset_calls()
    _cut_vrrp(lb)
    assert wait_for(lambda: sorted(lb.masters()) == ["n0", "n1"], 15) is not None, lb.masters()
    time.sleep(seconds)
    return _moves_by(lb, a), _moves_by(lb, b)


def test_split_brain_with_the_arbiter_moves_nothing(lab: Callable[..., Lab]) -> None:
    """Issue 21, item 3: the VRRP path of a pair whose master holds the lease is cut, both
    become MASTER. With the arbiter the holder keeps everything and the other makes zero
    mutating calls, says so (awsfailover_split_brain) and keeps watching; when the path heals
    keepalived demotes it and nothing moves. Side by side, in the same run: the same cut
    without the arbiter, and the moves it makes (each agent repairs what the other moved,
    reconcile_interval 1, until damping stops it)."""
    extra = "reconcile_interval = 1\ndamping_max_moves = 3\ndamping_window = 120\n"
    hold = 15.0
    lb = lab([150, 100], use_agent=True, agent_extra=extra, arbiter_ttl=LEASE_TTL)
    a, b = lb.nodes
    with_a, with_b = _split_brain(lb, hold)
    flags = (lb.metric(a, "awsfailover_split_brain"), lb.metric(b, "awsfailover_split_brain"))
    held = (lb.metric(a, "awsfailover_lease_held"), lb.metric(b, "awsfailover_lease_held"))
    assert lb.converged_on(a), "the holder lost something"
    lb.sim.reset_calls()
    _heal_vrrp(lb)
    assert wait_for(lambda: lb.masters() == ["n0"], 15) is not None, lb.masters()
    time.sleep(5.0)
    after_heal = _moves_by(lb, a) + _moves_by(lb, b)
    assert lb.converged_on(a)
    unflagged = lb.metric(b, "awsfailover_split_brain")
    lb.close()

    plain = lab([150, 100], use_agent=True, agent_extra=extra)
    without_a, without_b = _split_brain(plain, hold)
    E2E_TIMINGS.append(
        f"split brain {hold:g}s, both MASTER: with the arbiter the holder made {with_a} and "
        f"the other {with_b} mutating calls (split_brain metric {flags}, lease_held {held}); "
        f"after the heal {after_heal}; without the arbiter {without_a} and {without_b}"
    )
    assert with_b == 0 and with_a == 0
    assert flags == (0.0, 1.0) and held[0] == 1.0 and not held[1]  # b never held it
    assert after_heal == 0 and unflagged == 0.0
    assert without_b > 0  # the cut moves things without the arbiter: the comparison is real


def test_a_real_death_costs_nothing_more_with_the_arbiter(lab: Callable[..., Lab]) -> None:
    """Issue 21, item 4: the master's keepalived and agent are killed (SIGKILL: no release,
    no resignation advert). The peer's agent has watched the lease go stale by the time
    keepalived promotes it: kill to converged with the arbiter, over kill to converged
    without, medians of 3 in one run, at most 1.1."""
    medians = {}
    for arbiter in (True, False):
        lb = lab([150, 100], use_agent=True, arbiter_ttl=LEASE_TTL if arbiter else None)
        a, b = lb.nodes
        times = []
        for _ in range(3):
            settle(lb, a)
            time.sleep(1.5)  # the backup's keeper in its stride
            lb.kill_agent(a)
            lb.kill_keepalived(a)
            what = "with" if arbiter else "without"
            times.append(
                report(f"death[{what} arbiter]", "keepalived+agent killed", *lb.measure(b))
            )
            lb.start_node(a)
        settle(lb, a)
        medians[arbiter] = sorted(times)[1]
        lb.close()
    ratio = medians[True] / medians[False]
    E2E_TIMINGS.append(
        f"real death, kill to converged: with the arbiter {medians[True]:.2f}s, without "
        f"{medians[False]:.2f}s (medians of 3): ratio {ratio:.2f}"
    )
    assert ratio <= 1.1, medians
