"""Failover through the CLI against the local endpoint (a subprocess), as keepalived runs it."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.nodes import Node, mutating_calls

from awsfailover.sim.world import (
    ROUTE4,
    ROUTE4_B,
    ROUTE6,
    VIP4,
    VIP4_B,
    World,
    holder,
    route_targets,
)


def assert_on(
    ec2, world: World, eni: str, vips: list[str], tables: list[str], routes: list[str]
) -> None:
    for vip in vips:
        assert holder(ec2, vip) == [eni], vip
    for rtb in tables:
        targets = route_targets(ec2, rtb)
        for dest in routes:
            assert targets[dest] == eni, (rtb, dest)


def test_master_moves_ipv4_ipv6_and_all_route_kinds(world, node_b, ec2, sim):
    res = node_b.master()
    assert res.code == 0, res.err
    routes = [ROUTE4, ROUTE6, world.prefix_list]
    assert_on(ec2, world, world.eni_b, [VIP4, world.vip6], world.rtb_clients, routes)
    # one AssignPrivateIpAddresses for the IPv4 VIP, unassign+assign for IPv6, one
    # ReplaceRoute per (table, destination)
    calls = sim.calls()
    assert calls["AssignPrivateIpAddresses"] == 1
    assert calls["UnassignIpv6Addresses"] == 1
    assert calls["AssignIpv6Addresses"] >= 1
    assert calls["ReplaceRoute"] == len(world.rtb_clients) * len(routes)
    # tables not selected keep pointing at A: the app table and the main table
    for rtb in (world.rtb_app, world.rtb_main):
        assert route_targets(ec2, rtb)[ROUTE4] == world.eni_a
    # the VIP not configured stays where it was
    assert holder(ec2, VIP4_B) == [world.eni_a]


def test_round_trip_a_b_a_and_second_run_is_free(world, node_a, node_b, ec2, sim):
    routes = [ROUTE4, ROUTE6, world.prefix_list]
    for node in (node_b, node_a, node_b):
        res = node.master()
        assert res.code == 0, res.err
        assert_on(ec2, world, node.eni, [VIP4, world.vip6], world.rtb_clients, routes)
    sim.reset_calls()
    res = node_b.master()
    assert res.code == 0, res.err
    assert mutating_calls(sim) == 0
    assert "no change" in res.err
    res = node_b.run("takeover")
    assert res.code == 0 and mutating_calls(sim) == 0


def test_two_instances_move_independently(world, tmp_path: Path, ec2):
    inst = world.instance_toml("VI_1", vips=[VIP4], routes=[ROUTE4]) + world.instance_toml(
        "VI_2", vips=[VIP4_B], routes=[ROUTE4_B]
    )
    b = Node(world, world.eni_b, tmp_path, "b2", instances=inst)
    assert b.master("VI_2").code == 0
    assert holder(ec2, VIP4_B) == [world.eni_b]
    assert holder(ec2, VIP4) == [world.eni_a]
    for rtb in world.rtb_clients:
        t = route_targets(ec2, rtb)
        assert t[ROUTE4_B] == world.eni_b and t[ROUTE4] == world.eni_a
    assert b.master("VI_1").code == 0
    assert holder(ec2, VIP4) == [world.eni_b]


def test_route_tables_by_subnet_discovery_are_explicit_only(world, tmp_path: Path, ec2):
    sel = f'subnet_ids = ["{world.client_subnets[0]}", "{world.app_subnet}"]'
    b = Node(
        world,
        world.eni_b,
        tmp_path,
        "b3",
        instances=world.instance_toml(routes=[ROUTE4], selector=sel),
    )
    assert b.master().code == 0
    assert route_targets(ec2, world.rtb_clients[0])[ROUTE4] == world.eni_b
    assert route_targets(ec2, world.rtb_app)[ROUTE4] == world.eni_b
    assert route_targets(ec2, world.rtb_clients[1])[ROUTE4] == world.eni_a
    assert route_targets(ec2, world.rtb_main)[ROUTE4] == world.eni_a


def test_default_table_is_the_enis_subnet_explicit_association(world, tmp_path: Path, ec2):
    b = Node(
        world,
        world.eni_b,
        tmp_path,
        "b4",
        instances=world.instance_toml(routes=[ROUTE4], selector=""),
    )
    assert b.master().code == 0
    assert route_targets(ec2, world.rtb_app)[ROUTE4] == world.eni_b
    assert route_targets(ec2, world.rtb_main)[ROUTE4] == world.eni_a
    for rtb in world.rtb_clients:
        assert route_targets(ec2, rtb)[ROUTE4] == world.eni_a


def test_subnet_without_explicit_table_is_refused(world, tmp_path: Path, ec2, sim):
    ec2.disassociate_route_table(
        AssociationId=next(
            a["RouteTableAssociationId"]
            for a in ec2.describe_route_tables(RouteTableIds=[world.rtb_app])["RouteTables"][0][
                "Associations"
            ]
        )
    )
    b = Node(
        world,
        world.eni_b,
        tmp_path,
        "b5",
        instances=world.instance_toml(routes=[ROUTE4], selector=""),
    )
    sim.reset_calls()
    res = b.master()
    assert res.code == 2
    assert world.app_subnet in res.err and "main route table" in res.err
    assert mutating_calls(sim) == 0


def test_dry_run_changes_nothing(world, node_b, ec2, sim):
    res = node_b.run("takeover", "--dry-run")
    assert res.code == 0, res.err
    assert f"assign-private-ip {VIP4} -> {world.eni_b}" in res.out
    assert res.out.count("replace-route") == 3 * len(world.rtb_clients)
    assert mutating_calls(sim) == 0
    assert holder(ec2, VIP4) == [world.eni_a]


def test_vip_outside_subnet_refused_before_any_call(world, tmp_path: Path, sim):
    b = Node(
        world,
        world.eni_b,
        tmp_path,
        "b6",
        instances=world.instance_toml(vips=["10.0.5.5"], routes=[ROUTE4]),
    )
    res = b.master()
    assert res.code == 2
    assert "10.0.5.5 is outside subnet" in res.err and "Traceback" not in res.err
    assert mutating_calls(sim) == 0


def test_eni_in_another_subnet_refused_before_any_call(world, tmp_path: Path, sim, ec2):
    c = Node(world, world.eni_c, tmp_path, "c")
    res = c.master()
    assert res.code == 2
    assert world.eni_c in res.err and "outside subnet" in res.err
    assert mutating_calls(sim) == 0
    assert holder(ec2, VIP4) == [world.eni_a]


def test_vip_only_instance_cannot_pull_vip_into_another_subnet(world, tmp_path: Path, sim):
    # A VIP held by an ENI of another subnet is refused by the planner (test_plan.py); the
    # strict double cannot even create that state. Here: the same VIP, with no routes to fall
    # back on, asked for by an ENI in another subnet after it moved once within its subnet.
    b = Node(
        world, world.eni_b, tmp_path, "b7", instances=world.instance_toml(vips=[VIP4], routes=[])
    )
    assert b.master().code == 0  # sanity: same subnet works
    sim.reset_calls()
    res = Node(
        world, world.eni_c, tmp_path, "c2", instances=world.instance_toml(vips=[VIP4], routes=[])
    ).master()
    assert res.code == 2 and mutating_calls(sim) == 0


def test_missing_route_names_route_and_table(world, tmp_path: Path, sim):
    b = Node(
        world, world.eni_b, tmp_path, "b8", instances=world.instance_toml(routes=["10.99.0.0/16"])
    )
    res = b.master()
    assert res.code == 2
    assert "10.99.0.0/16" in res.err and world.rtb_clients[0] in res.err
    assert mutating_calls(sim) == 0


def test_missing_resources_exit_2(world, tmp_path: Path):
    bad_eni = Node(world, "eni-0123456789abcdef0", tmp_path, "x")
    res = bad_eni.master()
    assert res.code == 2 and "eni-0123456789abcdef0" in res.err
    bad_rtb = Node(
        world,
        world.eni_b,
        tmp_path,
        "y",
        instances=world.instance_toml(selector='route_tables = ["rtb-0123456789abcdef0"]'),
    )
    res = bad_rtb.master()
    assert res.code == 2 and "rtb-0123456789abcdef0" in res.err


def test_unknown_instance_and_bad_usage(world, node_b):
    res = node_b.run("notify", "INSTANCE", "VI_9", "MASTER", "100")
    assert res.code == 2 and "VI_9" in res.err
    res = node_b.run("notify", "INSTANCE", "VI_1", "SLEEPY")
    assert res.code == 2 and "SLEEPY" in res.err


def test_backup_fault_stop_change_nothing(world, node_b, sim):
    for state in ("BACKUP", "FAULT", "STOP"):
        assert node_b.run("notify", "INSTANCE", "VI_1", state, "50").code == 0
    assert sim.calls() == {}


def test_unknown_config_key_is_an_error(world, tmp_path: Path):
    n = Node(world, world.eni_b, tmp_path, "z", extra='endpont = "typo"')
    res = n.master()
    assert res.code == 2 and "endpont" in res.err and "unknown key" in res.err


def test_env_overrides_config(world, node_b, ec2):
    res = node_b.master()
    assert res.code == 0
    res = node_b.run(
        "notify", "INSTANCE", "VI_1", "MASTER", env={"AWSFAILOVER_NODE__ENI_ID": world.eni_a}
    )
    assert res.code == 0, res.err
    assert holder(ec2, VIP4) == [world.eni_a]


def test_status_reports_holders_and_convergence(world, node_b):
    res = node_b.run("status", "--json")
    assert res.code == 0, res.err
    doc = json.loads(res.out)["instances"][0]
    assert doc["converged_on"] == world.eni_a and doc["local_is_holder"] is False
    assert doc["vips"][VIP4] == world.eni_a
    node_b.master()
    doc = json.loads(node_b.run("status", "--json").out)["instances"][0]
    assert doc["converged_on"] == world.eni_b and doc["local_is_holder"] is True
    text = node_b.run("status").out
    assert "VI_1:" in text and world.eni_b in text


def test_failing_routes_report_partial_result(world, node_b, ec2, sim):
    # every ReplaceRoute answers 500 until the deadline: the VIP moves, the routes do not,
    # and the one error line says which is which
    sim.set_faults(error_rate=1.0, actions=["ReplaceRoute"])
    res = node_b.run(
        "notify", "INSTANCE", "VI_1", "MASTER", env={"AWSFAILOVER_FAILOVER__DEADLINE": "2"}
    )
    assert res.code == 1
    assert "incomplete" in res.err and "NOT moved" in res.err and "route" in res.err
    assert f"vip {VIP4}" in res.err.split("NOT moved")[0]  # the VIP did move, and says so
    assert holder(ec2, VIP4) == [world.eni_b]


def test_json_logs_one_object_per_line_without_credentials(world, node_b):
    secret = "s3cr3t-Never-Logged-0000000000000000000000"
    res = node_b.run("--log-json", "takeover", env={"AWS_SECRET_ACCESS_KEY": secret})
    assert res.code == 0, res.err
    lines = [ln for ln in res.err.splitlines() if ln.strip()]
    docs = [json.loads(ln) for ln in lines]
    assert any("converged on" in d["message"] for d in docs)
    assert all({"time", "level", "logger", "message"} <= set(d) for d in docs)
    assert secret not in res.err and "testing" not in res.err
