"""The agent in-process against the local endpoint in a thread: FIFO, hand-off, start-up
detection, drift repair, damping, retries, permanent errors, reload, metrics."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from helpers.agents import MUTATING, Running, make_agent, sample, wait_for, write_config

from awsfailover.keepalived.protocol import Transition
from awsfailover.sim.world import ROUTE6, VIP4, ec2_client, holder


def test_fifo_master_converges(env, tmp_path: Path):
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    fifo = tmp_path / "notify.fifo"
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg, fifo=fifo)) as agent:
        assert fifo.exists()
        with open(fifo, "w") as fh:
            fh.write('INSTANCE "VI_1" MASTER 100\n')
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b])
        assert wait_for(
            lambda: (
                sample(agent, "awsfailover_takeovers_total", instance="VI_1", result="converged")
                == 1
            )
        )
        assert sample(agent, "awsfailover_vrrp_state", instance="VI_1", state="MASTER") == 1
        assert sample(agent, "awsfailover_transitions_total", source="fifo") == 1
        assert (
            sample(agent, "awsfailover_ec2_api_calls_total", operation="ReplaceRoute", outcome="ok")
            == 6
        )


def test_duplicate_master_does_not_restart_the_takeover(env, tmp_path: Path):
    """keepalived with --use-agent reports MASTER on the FIFO and through the hook: the second
    report must not supersede the takeover the first one started."""
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    fifo = tmp_path / "notify.fifo"
    ec2 = ec2_client(world.endpoint_url)
    sim.set_faults(latency=0.1)  # keep the first takeover in flight while the second arrives
    with Running(make_agent(cfg, fifo=fifo)) as agent:
        with open(fifo, "w") as fh:
            fh.write('INSTANCE "VI_1" MASTER 100\n')
            fh.flush()
            time.sleep(0.15)
            fh.write('INSTANCE "VI_1" MASTER 100\n')
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b])
        assert wait_for(
            lambda: (
                sample(agent, "awsfailover_takeovers_total", instance="VI_1", result="converged")
                == 1
            )
        )
        assert (
            sample(agent, "awsfailover_takeovers_total", instance="VI_1", result="superseded") == 0
        )
    sim.set_faults()


def hook(
    cfg: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            *args,
            "-m",
            "awsfailover",
            "--config",
            str(cfg),
            "notify",
            "INSTANCE",
            "VI_1",
            "MASTER",
            "100",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_hook_hands_off_without_boto3_and_falls_back(env, tmp_path: Path):
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg)) as agent:
        res = hook(cfg, "-X", "importtime")
        assert res.returncode == 0, res.stderr
        assert "handed to the agent" in res.stderr
        imported = [
            line.split("|")[-1].strip()
            for line in res.stderr.splitlines()
            if line.startswith("import time:")
        ]
        assert not any(m.startswith(("botocore", "boto3", "pydantic")) for m in imported)
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b])
        assert sample(agent, "awsfailover_transitions_total", source="hook") == 1
        bad = subprocess.run(
            [
                sys.executable,
                "-m",
                "awsfailover",
                "--config",
                str(cfg),
                "notify",
                "INSTANCE",
                "VI_9",
                "MASTER",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert bad.returncode == 2 and "VI_9" in bad.stderr
    # agent gone: the hook does the work itself
    node_a = write_config(world, world.eni_a, tmp_path, "a")
    res = hook(node_a)
    assert res.returncode == 0, res.stderr
    assert "handed" not in res.stderr and "converged on" in res.stderr
    assert holder(ec2, VIP4) == [world.eni_a]


def test_startup_detects_mastership_from_interface(env, tmp_path: Path):
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg, addresses=lambda _i: set())):
        time.sleep(0.5)
    assert holder(ec2, VIP4) == [world.eni_a]
    assert not any(sim.calls().get(op) for op in MUTATING)
    with Running(make_agent(cfg, addresses=lambda _i: {VIP4, "10.0.1.11"})) as agent:
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b])
        assert sample(agent, "awsfailover_transitions_total", source="startup") == 1


def test_drift_is_repaired_in_two_describe_calls(env, tmp_path: Path):
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg)) as agent:
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(lambda: agent.workers["VI_1"].idle() and holder(ec2, VIP4) == [world.eni_b])
        sim.reset_calls()
        assert agent.reconcile()
        # two listings: the subnet's ENIs and the VPC's route tables. On AWS that is one call
        # each (pages of up to 1000 and 100); the endpoint serves 2 items per page, so the 2
        # ENIs are one page and the 4 tables two.
        describes = {op: n for op, n in sim.calls().items() if op.startswith("Describe")}
        assert describes == {"DescribeNetworkInterfaces": 1, "DescribeRouteTables": 2}
        # someone points a route back at A by hand
        ec2.replace_route(
            RouteTableId=world.rtb_clients[1],
            DestinationIpv6CidrBlock=ROUTE6,
            NetworkInterfaceId=world.eni_a,
        )
        assert agent.reconcile()
        assert wait_for(
            lambda: sample(agent, "awsfailover_drift_repairs_total", instance="VI_1") == 1
        )
        from awsfailover.sim.world import route_targets

        assert route_targets(ec2, world.rtb_clients[1])[ROUTE6] == world.eni_b
        assert sample(agent, "awsfailover_last_reconcile_success_timestamp_seconds") > 0


def test_damping_stops_two_masters_ping_pong(env, tmp_path: Path):
    sim, world = env
    extra = "damping_max_moves = 3\ndamping_window = 60\n"
    agents = [
        make_agent(write_config(world, eni, tmp_path, n, extra))
        for eni, n in ((world.eni_a, "a"), (world.eni_b, "b"))
    ]
    ec2 = ec2_client(world.endpoint_url)
    with Running(agents[0]) as a, Running(agents[1]) as b:
        a.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        b.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        # both reconcile as fast as they can: without damping this never ends
        end = time.monotonic() + 6
        while time.monotonic() < end:
            for ag in (a, b):
                ag.reconcile()
            time.sleep(0.1)
        # a repair allowed before the damper latched may still be acting (rounds within its
        # deadline): count from when both are idle
        assert wait_for(lambda: a.workers["VI_1"].idle() and b.workers["VI_1"].idle())
        moves_before = sim.calls().get("AssignPrivateIpAddresses", 0)
        for _ in range(10):
            for ag in (a, b):
                ag.reconcile()
            time.sleep(0.1)
        assert sim.calls().get("AssignPrivateIpAddresses", 0) == moves_before  # it stopped
        assert moves_before <= 2 * 3 + 2
        damped = [
            sample(ag, "awsfailover_takeovers_damped_total", instance="VI_1") for ag in (a, b)
        ]
        assert sum(damped) > 0
        assert max(sample(ag, "awsfailover_split_brain", instance="VI_1") for ag in (a, b)) == 1
        # a new legitimate transition is honoured at once
        a.dispatch(Transition("INSTANCE", "VI_1", "BACKUP"), "test")
        b.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b])


def test_retries_under_throttling_and_5xx_within_deadline(env, tmp_path: Path):
    sim, world = env
    sim.set_faults(throttle_rate=0.3, error_rate=0.05, seed=3)
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg)) as agent:
        started = time.monotonic()
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(
            lambda: (
                sample(agent, "awsfailover_takeovers_total", instance="VI_1", result="converged")
                == 1
            ),
            timeout=10,
        )
        assert time.monotonic() - started < 5 + 0.5
        retries = sum(
            s.value
            for m in agent.registry.collect()
            if m.name == "awsfailover_ec2_api_retries"
            for s in m.samples
            if s.name.endswith("_total")
        )
        assert retries > 0
    sim.set_faults()
    assert holder(ec2, VIP4) == [world.eni_b]


def test_permanent_error_fails_fast_with_code(env, tmp_path: Path, caplog):
    sim, world = env
    sim.set_faults(refuse={"ReplaceRoute": "UnauthorizedOperation"})
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    caplog.set_level(logging.ERROR, logger="awsfailover")
    logging.getLogger("awsfailover").propagate = True
    with Running(make_agent(cfg)) as agent:
        # the start-up reconcile runs beside the main loop: let it finish first, or it may see
        # the partial takeover's routes as drift and repair them (a second attempt, by design)
        assert wait_for(lambda: agent.last_reconcile_ok is not None)
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(
            lambda: (
                sample(agent, "awsfailover_takeovers_total", instance="VI_1", result="partial") == 1
            )
        )
        # no retry of a permanent error: one attempt per route, no backoff
        retries = [
            s
            for metric in agent.registry.collect()
            for s in metric.samples
            if s.name == "awsfailover_ec2_api_retries_total"
        ]
        assert not [s for s in retries if s.labels["operation"] == "ReplaceRoute"], retries
        calls = sample(
            agent, "awsfailover_ec2_api_calls_total", operation="ReplaceRoute", outcome="error"
        )
        assert calls == 6  # the metric the retry count would sit beside is there
    assert sim.outcomes()["ReplaceRoute:refused"] == 6
    text = caplog.text
    assert "UnauthorizedOperation" in text and world.rtb_clients[0] in text


def test_sighup_reload_good_and_bad(env, tmp_path: Path, caplog):
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    caplog.set_level(logging.INFO, logger="awsfailover")
    logging.getLogger("awsfailover").propagate = True
    with Running(make_agent(cfg)) as agent:
        good = cfg.read_text() + world.instance_toml("VI_2", vips=["10.0.1.101"], routes=[])
        cfg.write_text(good)
        agent.request_reload()
        assert wait_for(lambda: "VI_2" in agent.workers)
        cfg.write_text(good + "\nbogus_key = 1\n")
        agent.request_reload()
        assert wait_for(lambda: "reload rejected" in caplog.text)
        assert "bogus_key" in caplog.text
        assert set(agent.workers) == {"VI_1", "VI_2"}
        assert agent.settings.instances[1].name == "VI_2"


def test_metrics_and_healthz_over_http(env, tmp_path: Path):
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    with Running(make_agent(cfg)) as agent:
        assert wait_for(lambda: agent.healthy()[0])
        base = f"http://127.0.0.1:{agent.metrics_port}"
        with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
            assert r.status == 200
        with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
            body = r.read().decode()
        assert "awsfailover_last_reconcile_success_timestamp_seconds" in body
        assert (
            'awsfailover_ec2_api_calls_total{operation="DescribeRouteTables",outcome="ok"}' in body
        )
        # EC2 unreachable: the next reconcile fails and health turns red
        sim.set_faults(error_rate=1.0)
        agent.reconcile()
        try:
            urllib.request.urlopen(base + "/healthz", timeout=10)
            raise AssertionError("healthz should fail")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
        sim.set_faults()


def test_two_nic_agent_reconciles_eips_in_one_more_describe(env, tmp_path: Path):
    """A two-NIC node: VI_1 on the private ENI, PUB (VIP + Elastic IP) on the public one.
    Reconcile reads both subnets' ENIs in one call, the tables, and the Elastic IPs in one
    DescribeAddresses; a disassociated Elastic IP is drift, repaired with AssociateAddress."""
    from awsfailover.sim.world import PUBLIC_VIP, add_public_side, disassociate, eip_association

    sim, world = env
    pub = add_public_side(world)
    instances = world.instance_toml("VI_1") + pub.instance_toml("PUB", eni=pub.eni_b)
    cfg = write_config(world, world.eni_b, tmp_path, "b", instances=instances)
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg)) as agent:
        agent.dispatch(Transition("INSTANCE", "PUB", "MASTER"), "test")
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(
            lambda: (
                agent.workers["PUB"].idle()
                and eip_association(ec2, pub.allocation_id) == (pub.eni_b, PUBLIC_VIP)
                and holder(ec2, VIP4) == [world.eni_b]
            )
        )
        assert wait_for(agent.workers["VI_1"].idle)

        def repairs() -> float:
            """Takeovers of any result so far: a repair that found nothing is one too."""
            return sum(
                x.value
                for m in agent.registry.collect()
                for x in m.samples
                if x.name == "awsfailover_takeovers_total"
            )

        # The budget is the reconcile's own: measure one that found nothing to repair (a
        # repair it asks for runs beside it with its own Describe calls; a takeover confirmed
        # late on a busy machine can leave that for the first one). Bounded.
        for _ in range(5):
            before = repairs()
            sim.reset_calls()
            assert agent.reconcile()
            describes = {op: n for op, n in sim.calls().items() if op.startswith("Describe")}
            assert wait_for(lambda: agent.workers["PUB"].idle() and agent.workers["VI_1"].idle())
            mutating = [op for op in sim.calls() if not op.startswith("Describe")]
            if repairs() == before and not mutating:
                break
        else:
            raise AssertionError("every reconcile found drift to repair: the state never settled")
        # 4 ENIs in the two subnets and 4 tables: 2 pages of 2 each (AWS: one page each)
        assert describes == {
            "DescribeNetworkInterfaces": 2,
            "DescribeRouteTables": 2,
            "DescribeAddresses": 1,
        }, describes
        assert sample(agent, "awsfailover_items_on_this_node", instance="PUB", kind="eip") == 1
        assert sample(agent, "awsfailover_items", instance="PUB", kind="eip") == 1
        disassociate(ec2, pub.allocation_id)
        assert agent.reconcile()
        assert sample(agent, "awsfailover_items_on_this_node", instance="PUB", kind="eip") == 0
        assert wait_for(lambda: eip_association(ec2, pub.allocation_id) == (pub.eni_b, PUBLIC_VIP))
        assert wait_for(
            lambda: sample(agent, "awsfailover_drift_repairs_total", instance="PUB") == 1
        )
        assert (
            sample(
                agent, "awsfailover_ec2_api_calls_total", operation="AssociateAddress", outcome="ok"
            )
            == 1
        )


def test_a_deleted_eip_fails_its_instance_not_the_reconcile(env, tmp_path: Path, caplog):
    """One instance names an Elastic IP that no longer exists: its plan fails with the reason,
    and the reconcile still repairs the other instance (EC2 would refuse a DescribeAddresses
    naming the missing id outright; the agent asks by filter)."""
    from awsfailover.sim.world import PUBLIC_VIP, add_public_side, disassociate, eip_association

    sim, world = env
    pub = add_public_side(world)
    gone = (
        '[[instances]]\nname = "GONE"\n'
        'eips = [{ allocation_id = "eipalloc-0123456789abcdef0", private_ip = "primary" }]\n'
    )
    instances = pub.instance_toml("PUB", eni=pub.eni_b) + gone
    cfg = write_config(world, world.eni_b, tmp_path, "b", instances=instances)
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg)) as agent:
        agent.dispatch(Transition("INSTANCE", "PUB", "MASTER"), "test")
        agent.dispatch(Transition("INSTANCE", "GONE", "MASTER"), "test")
        assert wait_for(
            lambda: (
                agent.workers["PUB"].idle()
                and agent.workers["GONE"].idle()
                and eip_association(ec2, pub.allocation_id) == (pub.eni_b, PUBLIC_VIP)
            )
        )
        disassociate(ec2, pub.allocation_id)
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            assert agent.reconcile()
        assert (
            "GONE: reconcile: instances.GONE.eips: eipalloc-0123456789abcdef0 does not exist"
            in caplog.text
        )
        assert wait_for(lambda: eip_association(ec2, pub.allocation_id) == (pub.eni_b, PUBLIC_VIP))


def test_two_nic_auto_reconcile_leaves_the_other_roles_route(env, tmp_path: Path):
    """routes = "auto" on a two-NIC node (issue 17, item 8): a converged master's reconcile
    does not take a route of VI_1's table that is aimed at the public role's ENI."""
    from awsfailover.sim.world import add_public_side, route_targets

    sim, world = env
    pub = add_public_side(world)
    rtb = world.rtb_clients[0]
    enis = ", ".join(f'"{e}"' for e in (world.eni_a, world.eni_b, pub.eni_a, pub.eni_b))
    instances = (
        f'[group]\nenis = [{enis}]\n\n[[instances]]\nname = "VI_1"\nvips = ["{VIP4}"]\n'
        f'routes = "auto"\nroute_tables = ["{rtb}"]\n\n' + pub.instance_toml("PUB", eni=pub.eni_b)
    )
    cfg = write_config(world, world.eni_b, tmp_path, "b", instances=instances)
    ec2 = ec2_client(world.endpoint_url)
    ec2.create_route(
        RouteTableId=rtb, DestinationCidrBlock="10.77.0.0/16", NetworkInterfaceId=pub.eni_a
    )
    with Running(make_agent(cfg)) as agent:
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(lambda: agent.workers["VI_1"].idle() and holder(ec2, VIP4) == [world.eni_b])
        assert route_targets(ec2, rtb)["10.77.0.0/16"] == pub.eni_a
        for _ in range(2):
            agent.reconcile()
            assert wait_for(agent.workers["VI_1"].idle)
        assert route_targets(ec2, rtb)["10.77.0.0/16"] == pub.eni_a
        assert route_targets(ec2, rtb)["192.168.50.0/24"] == world.eni_b
