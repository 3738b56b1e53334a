"""check-iam against the local endpoint, whose IAM evaluates the role's real policies."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from helpers.iam import role_env
from helpers.nodes import Node

from awsfailover.sim import SimClient
from awsfailover.sim.world import REGION, World

ACCOUNT = "123456789012"  # moto's default account


def group_extra(world: World) -> str:
    return f'[group]\nenis = ["{world.eni_a}", "{world.eni_b}"]\naccount_id = "{ACCOUNT}"\n'


@pytest.fixture
def node(world: World, tmp_path: Path) -> Node:
    return Node(world, world.eni_b, tmp_path, "b", extra=group_extra(world))


def generated(node: Node, *extra: str) -> dict[str, Any]:
    r = node.run("iam-policy", "--role", "/appliance/awsfailover", *extra)
    assert r.code == 0, r.err
    doc: dict[str, Any] = json.loads(r.out)
    return doc


ROW = re.compile(r"^(\S+)\s+(\S+)\s+(simulate|dry-run)\s+(\S+)", re.M)


def rows(out: str) -> list[tuple[str, str, str, str]]:
    return [m.groups() for m in ROW.finditer(out) if m.group(1) != "ACTION"]  # type: ignore[misc]


def denied(out: str) -> set[tuple[str, str]]:
    return {(a, r) for a, r, _check, result in rows(out) if result == "DENIED"}


def pairs(statement: dict[str, Any]) -> set[tuple[str, str]]:
    res = statement["Resource"]
    return {(a, r) for a in statement["Action"] for r in ([res] if isinstance(res, str) else res)}


def test_generated_policy_passes_and_fails_over(sim: SimClient, world: World, node: Node) -> None:
    policy = generated(node)
    env = role_env(sim.url, json.dumps(policy))
    r = node.run("check-iam", env=env)
    assert r.code == 0, r.out + r.err
    assert "principal: arn:aws:iam::123456789012:role/appliance/awsfailover" in r.out
    got = rows(r.out)
    assert got and all(result == "allowed" for *_x, result in got)
    # every (action, resource) of the policy was checked by simulation, ReplaceRoute also by DryRun
    simulated = {(a, res) for a, res, check, _r in got if check == "simulate"}
    for st in policy["Statement"]:
        if st["Sid"] != "PreflightSelfCheck":
            assert pairs(st) <= simulated
    routes_dry = {(a, res) for a, res, c, _r in got if c == "dry-run" and a == "ec2:ReplaceRoute"}
    assert routes_dry == pairs(policy["Statement"][3])
    # and the policy really is enough: a failover with the role's credentials converges
    assert node.master(env=env).code == 0


@pytest.mark.parametrize(
    "sid",
    [
        "ObserveNetworkState",
        "MoveIpv4VipsBetweenGroupEnis",
        "MoveIpv6VipsBetweenGroupEnis",
        "SteerRoutesToGroupEnis",
    ],
)
def test_removing_one_statement_names_exactly_its_actions(
    sim: SimClient, world: World, node: Node, sid: str
) -> None:
    policy = generated(node)
    removed = next(s for s in policy["Statement"] if s["Sid"] == sid)
    policy["Statement"].remove(removed)
    r = node.run("check-iam", env=role_env(sim.url, json.dumps(policy)))
    assert r.code == 1, r.out + r.err
    assert denied(r.out) == pairs(removed)
    advice = json.loads(r.out.split("add to the principal's policy:\n", 1)[1].rsplit("\n", 2)[0])
    assert [pairs(s) for s in advice] == [pairs(removed)]


def test_removing_the_self_check_falls_back_to_dry_run(
    sim: SimClient, world: World, node: Node
) -> None:
    policy = generated(node)
    policy["Statement"] = [s for s in policy["Statement"] if s["Sid"] != "PreflightSelfCheck"]
    r = node.run("check-iam", env=role_env(sim.url, json.dumps(policy)))
    assert r.code == 1
    assert "may not call iam:SimulatePrincipalPolicy" in r.out
    got = rows(r.out)
    assert {res for a, _r, c, res in got if c == "dry-run"} == {"allowed"}
    unverified = {a for a, _r, _c, res in got if res == "unverified"}
    assert unverified == {
        "ec2:AssignPrivateIpAddresses",
        "ec2:AssignIpv6Addresses",
        "ec2:UnassignIpv6Addresses",
    }


def test_policy_scoped_to_other_enis_is_denied(sim: SimClient, world: World, node: Node) -> None:
    other = node.run("iam-policy", "--role", "/appliance/awsfailover", "--eni", world.eni_c)
    policy = json.loads(other.out)
    for st in policy["Statement"]:
        if "Vips" in st["Sid"]:
            st["Resource"] = [r for r in st["Resource"] if world.eni_c in r]
    env = role_env(sim.url, json.dumps(policy))
    r = node.run("check-iam", env=env)
    assert r.code == 1
    denied_enis = {res.rsplit("/", 1)[1] for a, res in denied(r.out)}
    assert denied_enis == {world.eni_a, world.eni_b}
    assert {a for a, _r in denied(r.out)} == {
        "ec2:AssignPrivateIpAddresses",
        "ec2:AssignIpv6Addresses",
        "ec2:UnassignIpv6Addresses",
    }
    # the double enforces it on the real call too: the VIP move is refused, routes still move
    fail = node.master(env=env)
    assert fail.code == 1
    assert "UnauthorizedOperation" in fail.err


def test_tag_scoped_policy_passes_only_with_the_tag(
    sim: SimClient, world: World, node: Node, ec2: Any
) -> None:
    policy = json.dumps(generated(node, "--tag", "awsfailover-group=edge-1"))
    env = role_env(sim.url, policy)
    r = node.run("check-iam", env=env)
    assert r.code == 1
    assert {a for a, _r in denied(r.out)} == {
        "ec2:AssignPrivateIpAddresses",
        "ec2:AssignIpv6Addresses",
        "ec2:UnassignIpv6Addresses",
    }
    ec2.create_tags(
        Resources=[world.eni_a, world.eni_b],
        Tags=[{"Key": "awsfailover-group", "Value": "edge-1"}],
    )
    r = node.run("check-iam", env=env)
    assert r.code == 0, r.out


# --- Elastic IPs: AssociateAddress on the allocation and on the group's ENIs ------------------


def eip_node(world: World, tmp_path: Path) -> tuple[Node, Any]:
    from awsfailover.sim.world import add_public_side

    pub = add_public_side(world)
    enis = ", ".join(f'"{e}"' for e in (world.eni_a, world.eni_b, pub.eni_a, pub.eni_b))
    extra = f'[group]\nenis = [{enis}]\naccount_id = "{ACCOUNT}"\n'
    inst = pub.instance_toml("PUB", eni=pub.eni_b)
    return Node(world, world.eni_b, tmp_path, "b", instances=inst, extra=extra), pub


def test_eip_policy_passes_and_the_role_reassociates(
    sim: SimClient, world: World, tmp_path: Path
) -> None:
    from awsfailover.sim.world import PUBLIC_VIP, disassociate, ec2_client, eip_association

    node, pub = eip_node(world, tmp_path)
    policy = generated(node)
    eip_st = next(s for s in policy["Statement"] if s["Sid"] == "ReassociateElasticIpsToGroupEnis")
    assert pairs(eip_st) == {
        ("ec2:AssociateAddress", f"arn:aws:ec2:{REGION}:{ACCOUNT}:elastic-ip/{pub.allocation_id}"),
        *(
            ("ec2:AssociateAddress", f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-interface/{e}")
            for e in (world.eni_a, world.eni_b, pub.eni_a, pub.eni_b)
        ),
    }
    env = role_env(sim.url, json.dumps(policy))
    r = node.run("check-iam", env=env)
    assert r.code == 0, r.out + r.err
    assert ("ec2:AssociateAddress", eip_st["Resource"][0], "dry-run", "allowed") in rows(r.out)
    assert ("ec2:DescribeAddresses", "*", "dry-run", "allowed") in rows(r.out)
    # the association is made by AssociateAddress (not carried by the VIP move)
    ec2 = ec2_client(sim.url)
    disassociate(ec2, pub.allocation_id)
    r = node.master("PUB", env=env)
    assert r.code == 0, r.err
    assert eip_association(ec2, pub.allocation_id) == (pub.eni_b, PUBLIC_VIP)


def test_eip_statement_removed_is_named(sim: SimClient, world: World, tmp_path: Path) -> None:
    node, _pub = eip_node(world, tmp_path)
    policy = generated(node)
    removed = next(s for s in policy["Statement"] if s["Sid"] == "ReassociateElasticIpsToGroupEnis")
    policy["Statement"].remove(removed)
    r = node.run("check-iam", env=role_env(sim.url, json.dumps(policy)))
    assert r.code == 1, r.out + r.err
    assert denied(r.out) == pairs(removed)


EVENTS = (
    f'[events]\nsns_topic_arn = "arn:aws:sns:{REGION}:{ACCOUNT}:awsfailover-events"\n'
    'eventbridge_bus = "default"\n'
)


@pytest.mark.parametrize("sid", ["PublishEventsToTopic", "PutEventsOnBus"])
def test_event_grants_are_simulated_and_a_missing_one_is_named(
    sim: SimClient, world: World, tmp_path: Path, sid: str
) -> None:
    """Issue 20: with [events], check-iam simulates sns:Publish on the topic and
    events:PutEvents on the bus; without the statement it names exactly that grant."""
    node = Node(world, world.eni_b, tmp_path, "b", extra=group_extra(world) + EVENTS)
    policy = generated(node)
    env = role_env(sim.url, json.dumps(policy))
    ok = node.run("check-iam", env=env)
    assert ok.code == 0, ok.out + ok.err
    simulated = {(a, res) for a, res, check, _r in rows(ok.out) if check == "simulate"}
    removed = next(s for s in policy["Statement"] if s["Sid"] == sid)
    assert pairs(removed) <= simulated
    policy["Statement"].remove(removed)
    iam = boto3.client("iam", endpoint_url=sim.url, region_name=REGION)
    iam.put_role_policy(
        RoleName="awsfailover", PolicyName="awsfailover", PolicyDocument=json.dumps(policy)
    )
    r = node.run("check-iam", env=env)
    assert r.code == 1, r.out + r.err
    assert denied(r.out) == pairs(removed)


ARBITER = '[arbiter]\ntable = "awsfailover-leases"\n'


def test_lease_grants_hold_the_role_to_its_groups_keys(
    sim: SimClient, world: World, tmp_path: Path
) -> None:
    """Issue 21: with [arbiter], iam-policy grants the lease actions on the table with a
    dynamodb:LeadingKeys condition on "<group.name>/*"; check-iam simulates each instance's
    key. A policy written for another group's prefix is denied, action by action."""
    extra = group_extra(world) + 'name = "edge"\n' + ARBITER
    node = Node(world, world.eni_b, tmp_path, "b", extra=extra)
    policy = generated(node)
    leases = next(s for s in policy["Statement"] if s["Sid"] == "HoldTheGroupsLeases")
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/awsfailover-leases"
    assert leases["Resource"] == [table]
    assert sorted(leases["Action"]) == [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    assert leases["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": "edge/*"}}
    env = role_env(sim.url, json.dumps(policy))
    ok = node.run("check-iam", env=env)
    assert ok.code == 0, ok.out + ok.err
    simulated = {(a, res) for a, res, check, _r in rows(ok.out) if check == "simulate"}
    assert pairs(leases) <= simulated
    leases["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] = ["other/*"]
    iam = boto3.client("iam", endpoint_url=sim.url, region_name=REGION)
    iam.put_role_policy(
        RoleName="awsfailover", PolicyName="awsfailover", PolicyDocument=json.dumps(policy)
    )
    r = node.run("check-iam", env=env)
    assert r.code == 1, r.out + r.err
    assert denied(r.out) == {(a, table) for a in leases["Action"]}
    assert '"dynamodb:LeadingKeys": "edge/*"' in r.out  # the fix names the prefix


def test_the_generated_policy_lets_the_hook_hold_its_groups_lease_only(
    sim: SimClient, world: World, tmp_path: Path
) -> None:
    """Issue 21: the endpoint authorises DynamoDB for an assumed role as AWS does (the table's
    ARN, dynamodb:LeadingKeys = the item's key). With the generated policy the hook takes its
    lease; with the prefix of another group every lease call is denied, and under
    on_unreachable = "hold" nothing moves."""
    from awsfailover.sim.world import VIP4, create_lease_table, ec2_client, holder

    create_lease_table(sim.url)
    extra = group_extra(world) + 'name = "edge"\n' + ARBITER + 'on_unreachable = "hold"\n'
    b = Node(world, world.eni_b, tmp_path, "b", extra=extra)
    policy = generated(b)
    env = {**role_env(sim.url, json.dumps(policy)), "AWS_ENDPOINT_URL_DYNAMODB": sim.url}
    r = b.master(env=env)
    assert r.code == 0, r.err
    assert "lease taken, token 1" in r.err
    ec2 = ec2_client(sim.url)
    assert holder(ec2, VIP4) == [world.eni_b]
    leases = next(s for s in policy["Statement"] if s["Sid"] == "HoldTheGroupsLeases")
    leases["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] = "other/*"
    iam = boto3.client("iam", endpoint_url=sim.url, region_name=REGION)
    iam.put_role_policy(
        RoleName="awsfailover", PolicyName="awsfailover", PolicyDocument=json.dumps(policy)
    )
    a = Node(world, world.eni_a, tmp_path, "a", extra=extra)
    r = a.master(env=env)
    assert r.code == 1, r.err
    assert "AccessDeniedException" in r.err and "on_unreachable = hold: nothing moved" in r.err
    assert holder(ec2, VIP4) == [world.eni_b]
