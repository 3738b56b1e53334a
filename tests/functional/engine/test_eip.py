"""Elastic IPs, multi-NIC nodes and routes = "auto" (issue 12, items 1 to 3).

The endpoint's side first (its Elastic IP model is as strict as EC2's), then the engine's:
the hook on a two-NIC node moves the public VIP and its Elastic IP to its public ENI, only
there, and does nothing the second time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from helpers.nodes import Node, mutating_calls

from awsfailover.sim import SimClient
from awsfailover.sim.world import (
    PUBLIC_VIP,
    ROUTE4,
    ROUTE4_B,
    VIP4,
    PublicSide,
    World,
    add_public_side,
    disassociate,
    eip_association,
    holder,
    route_targets,
)


@pytest.fixture
def pub(world: World, sim: SimClient) -> PublicSide:
    side = add_public_side(world)
    sim.reset_calls()
    return side


def two_nic_node(world: World, pub: PublicSide, tmp: Path, which: str, extra: str = "") -> Node:
    """Node A or B: its private ENI is node.eni_id, its public ENI belongs to instance PUB."""
    private, public = (world.eni_a, pub.eni_a) if which == "a" else (world.eni_b, pub.eni_b)
    instances = world.instance_toml("VI_1") + pub.instance_toml("PUB", eni=public, extra=extra)
    return Node(world, private, tmp, which, instances=instances)


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


# --- the endpoint's Elastic IP model ----------------------------------------------------------


def test_endpoint_refuses_reassociation_without_the_flag(
    world: World, ec2: Any, pub: PublicSide
) -> None:
    for flag in ({}, {"AllowReassociation": False}):  # moto read "false" as allowed
        with pytest.raises(ClientError) as exc:
            ec2.associate_address(
                AllocationId=pub.allocation_id, NetworkInterfaceId=pub.eni_b, **flag
            )
        assert code_of(exc) == "Resource.AlreadyAssociated"
    assert eip_association(ec2, pub.allocation_id) == (pub.eni_a, PUBLIC_VIP)
    ec2.associate_address(
        AllocationId=pub.allocation_id, NetworkInterfaceId=pub.eni_b, AllowReassociation=True
    )
    assert eip_association(ec2, pub.allocation_id) == (pub.eni_b, "10.0.4.11")


def test_endpoint_refuses_a_private_address_the_eni_does_not_hold(
    world: World, ec2: Any, pub: PublicSide
) -> None:
    with pytest.raises(ClientError) as exc:
        ec2.associate_address(
            AllocationId=pub.allocation_id,
            NetworkInterfaceId=pub.eni_b,
            PrivateIpAddress=PUBLIC_VIP,  # still node A's
            AllowReassociation=True,
        )
    assert code_of(exc) == "InvalidParameterValue"
    assert eip_association(ec2, pub.allocation_id) == (pub.eni_a, PUBLIC_VIP)


def test_endpoint_moves_the_eip_with_its_private_address(
    world: World, ec2: Any, pub: PublicSide
) -> None:
    ec2.assign_private_ip_addresses(
        NetworkInterfaceId=pub.eni_b, PrivateIpAddresses=[PUBLIC_VIP], AllowReassignment=True
    )
    assert eip_association(ec2, pub.allocation_id) == (pub.eni_b, PUBLIC_VIP)
    found = ec2.describe_addresses(
        Filters=[{"Name": "private-ip-address", "Values": [PUBLIC_VIP]}]
    )["Addresses"]
    assert [a["AllocationId"] for a in found] == [pub.allocation_id]


def test_endpoint_one_eip_per_private_address_and_idempotent(
    world: World, ec2: Any, pub: PublicSide
) -> None:
    first = ec2.describe_addresses(AllocationIds=[pub.allocation_id])["Addresses"][0]
    again = ec2.associate_address(
        AllocationId=pub.allocation_id,
        NetworkInterfaceId=pub.eni_a,
        PrivateIpAddress=PUBLIC_VIP,
        AllowReassociation=True,
    )
    assert again["AssociationId"] == first["AssociationId"]  # the same association, kept
    other = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(
        AllocationId=other,
        NetworkInterfaceId=pub.eni_a,
        PrivateIpAddress=PUBLIC_VIP,
        AllowReassociation=True,
    )
    assert eip_association(ec2, other) == (pub.eni_a, PUBLIC_VIP)
    assert eip_association(ec2, pub.allocation_id) == (None, None)


# --- the engine on a two-NIC node --------------------------------------------------------------


def test_two_nic_node_moves_the_public_vip_and_eip_to_its_public_eni(
    world: World, ec2: Any, pub: PublicSide, sim: SimClient, tmp_path: Path
) -> None:
    # PUB also steers a route (the public side's return path) to its own ENI
    extra = f'routes = ["{ROUTE4_B}"]\nroute_tables = ["{world.rtb_app}"]\n'
    node_b = two_nic_node(world, pub, tmp_path, "b", extra=extra)
    r = node_b.master("PUB")
    assert r.code == 0, r.err
    assert holder(ec2, PUBLIC_VIP) == [pub.eni_b]
    assert eip_association(ec2, pub.allocation_id) == (pub.eni_b, PUBLIC_VIP)
    assert route_targets(ec2, world.rtb_app)[ROUTE4_B] == pub.eni_b
    # the private side is another instance: untouched
    assert holder(ec2, VIP4) == [world.eni_a]
    assert route_targets(ec2, world.rtb_clients[0])[ROUTE4] == world.eni_a
    # the Elastic IP followed its address: the VIP move and the route, nothing for the EIP
    assert sim.calls().get("AssignPrivateIpAddresses") == 1
    assert sim.calls().get("ReplaceRoute") == 1
    assert "AssociateAddress" not in sim.calls()
    sim.reset_calls()
    r = node_b.master("PUB")
    assert r.code == 0, r.err
    assert mutating_calls(sim) == 0
    assert sim.calls().get("DescribeAddresses", 0) >= 1


def test_unassociated_eip_is_associated_behind_the_slow_vip_move(
    world: World, ec2: Any, pub: PublicSide, sim: SimClient, tmp_path: Path
) -> None:
    disassociate(ec2, pub.allocation_id)
    sim.set_move_delay(0.4)  # the endpoint refuses the association until the VIP is there
    node_b = two_nic_node(world, pub, tmp_path, "b")
    r = node_b.master("PUB")
    assert r.code == 0, r.err
    assert eip_association(ec2, pub.allocation_id) == (pub.eni_b, PUBLIC_VIP)
    assert holder(ec2, PUBLIC_VIP) == [pub.eni_b]
    assert "associate-address" in r.err
    assert sim.calls()["AssociateAddress"] >= 2  # refused while the VIP was on its way


def test_eip_on_another_address_is_reassociated_and_survives_a_lost_answer(
    world: World, ec2: Any, pub: PublicSide, sim: SimClient, tmp_path: Path
) -> None:
    # the Elastic IP points at node A's primary public address, not the VIP
    ec2.associate_address(
        AllocationId=pub.allocation_id, NetworkInterfaceId=pub.eni_a, AllowReassociation=True
    )
    sim.set_faults(script={"AssociateAddress": ["applied-dropped"]})
    node_b = two_nic_node(world, pub, tmp_path, "b")
    r = node_b.master("PUB")
    assert r.code == 0, r.err
    assert eip_association(ec2, pub.allocation_id) == (pub.eni_b, PUBLIC_VIP)
    assert sim.outcomes().get("AssociateAddress:applied-dropped") == 1


def test_two_nic_node_confirms_in_its_public_enis_metadata(
    world: World, pub: PublicSide, sim: SimClient, tmp_path: Path
) -> None:
    """Metadata confirmation finds the MAC of the instance's own ENI: with the node's (eth0)
    MAC it would wait for an address that never shows there, and report it not moved."""
    node_b = two_nic_node(world, pub, tmp_path, "b")
    sim.set_state(metadata_delay=0.5)
    view = f"{world.endpoint_url}/_imds/{world.eni_b}+{pub.eni_b}/"  # eth0's ENI first
    env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": view}
    r = node_b.master("PUB", env=env)
    assert r.code == 0, r.err
    assert "confirming through the API only" not in r.err


def test_cross_az_eip_maps_to_each_nodes_own_address(
    world: World, ec2: Any, pub: PublicSide, sim: SimClient, tmp_path: Path
) -> None:
    """A pair in two AZs: routes and the Elastic IP only; each node names its own address."""
    inst = (
        '[[instances]]\nname = "EDGE"\n'
        f'eips = [{{ allocation_id = "{pub.allocation_id}", private_ip = '
        '{ "eu-north-1a" = "primary", "eu-north-1b" = "10.0.9.10" } }]\n'
    )
    node_a = Node(world, world.eni_a, tmp_path, "a", instances=inst)
    node_c = Node(world, world.eni_c, tmp_path, "c", instances=inst)
    r = node_c.master("EDGE")
    assert r.code == 0, r.err
    assert eip_association(ec2, pub.allocation_id) == (world.eni_c, "10.0.9.10")
    r = node_a.master("EDGE")
    assert r.code == 0, r.err
    assert eip_association(ec2, pub.allocation_id) == (world.eni_a, "10.0.1.10")
    sim.reset_calls()
    assert node_a.master("EDGE").code == 0
    assert mutating_calls(sim) == 0


def test_eip_address_not_ours_is_refused_before_acting(
    world: World, ec2: Any, pub: PublicSide, sim: SimClient, tmp_path: Path
) -> None:
    inst = (
        f'[[instances]]\nname = "EDGE"\nroutes = ["{ROUTE4}"]\n'
        f'route_tables = ["{world.rtb_clients[0]}"]\n'
        f'eips = [{{ allocation_id = "{pub.allocation_id}", private_ip = "10.0.1.11" }}]\n'
    )
    node_a = Node(world, world.eni_a, tmp_path, "a", instances=inst)
    r = node_a.master("EDGE")
    assert r.code == 2, r.err
    assert "neither an IPv4 VIP of this instance nor an address of" in r.err
    assert mutating_calls(sim) == 0


def test_a_released_eip_does_not_block_the_rest(
    world: World, ec2: Any, pub: PublicSide, sim: SimClient, tmp_path: Path
) -> None:
    """Issue 17 item 10: an Elastic IP released out of band (or a typo) is not moved and says
    why (exit 1); the VIP moves all the same. Before, the whole takeover was refused (exit 2,
    nothing moved)."""
    inst = pub.instance_toml("PUB", eni=pub.eni_b).replace(
        pub.allocation_id, "eipalloc-0123456789abcdef0"
    )
    node_b = Node(world, world.eni_b, tmp_path, "b", instances=inst)
    r = node_b.master("PUB")
    assert r.code == 1, r.err
    line = next(x for x in r.err.splitlines() if x.startswith("awsfailover: error: "))
    assert f"moved: vip {PUBLIC_VIP}" in line, line
    assert "NOT moved: eip eipalloc-0123456789abcdef0" in line, line
    assert "eipalloc-0123456789abcdef0 does not exist" in line, line
    assert holder(ec2, PUBLIC_VIP) == [pub.eni_b]
    r = node_b.run("status", "--json")
    assert r.code == 3 and "eipalloc-0123456789abcdef0 does not exist" in r.out, r.out
    assert sim.calls().get("AssociateAddress", 0) == 0  # nothing asked of the missing one


def test_status_and_dry_run_show_the_eip(
    world: World, ec2: Any, pub: PublicSide, tmp_path: Path
) -> None:
    disassociate(ec2, pub.allocation_id)
    node_b = two_nic_node(world, pub, tmp_path, "b")
    r = node_b.run("takeover", "--dry-run", "PUB")
    assert r.code == 0, r.err
    assert f"associate-address {pub.allocation_id} ({pub.public_ip}) -> {pub.eni_b}" in r.out
    assert holder(ec2, PUBLIC_VIP) == [pub.eni_a]  # a dry run moves nothing
    r = node_b.run("status", "--json")
    doc = {i["name"]: i for i in json.loads(r.out)["instances"]}["PUB"]
    assert doc["eips"][pub.allocation_id]["eni"] is None
    assert doc["local_eni"] == pub.eni_b
    assert node_b.master("PUB").code == 0
    doc = {i["name"]: i for i in json.loads(node_b.run("status", "--json").out)["instances"]}
    assert doc["PUB"]["eips"][pub.allocation_id] == {
        "public_ip": pub.public_ip,
        "eni": pub.eni_b,
        "private_ip": PUBLIC_VIP,
    }
    assert doc["PUB"]["converged_on"] == pub.eni_b and doc["PUB"]["local_is_holder"]
    assert doc["VI_1"]["converged_on"] == world.eni_a and not doc["VI_1"]["local_is_holder"]


# --- routes = "auto" ---------------------------------------------------------------------------


def auto_node(world: World, eni: str, tmp: Path, name: str, explicit: str = "") -> Node:
    enis = ", ".join(f'"{e}"' for e in (world.eni_a, world.eni_b))
    inst = (
        f'[group]\nenis = [{enis}]\n\n[[instances]]\nname = "VI_1"\nvips = ["{VIP4}"]\n'
        f'routes = "auto"\nroute_tables = ["{world.rtb_clients[0]}"]\n\n{explicit}'
    )
    return Node(world, eni, tmp, name, instances=inst)


def test_auto_routes_move_every_route_of_the_group(
    world: World, ec2: Any, sim: SimClient, tmp_path: Path
) -> None:
    rtb = world.rtb_clients[0]
    # a route of someone else's appliance, and a gateway route: not the group's
    ec2.create_route(
        RouteTableId=rtb, DestinationCidrBlock="10.99.0.0/16", NetworkInterfaceId=world.eni_c
    )
    node_b = auto_node(world, world.eni_b, tmp_path, "b")
    r = node_b.run("takeover", "--dry-run")
    assert r.code == 0, r.err
    planned = [line for line in r.out.splitlines() if "replace-route" in line]
    assert len(planned) == 4, r.out  # IPv4 x2, IPv6, prefix list
    assert not any("10.99.0.0/16" in line for line in planned)
    assert node_b.master().code == 0
    targets = route_targets(ec2, rtb)
    for dest in (ROUTE4, ROUTE4_B, "2001:db8:ff::/64", world.prefix_list):
        assert targets[dest] == world.eni_b, dest
    assert targets["10.99.0.0/16"] == world.eni_c
    assert route_targets(ec2, world.rtb_clients[1])[ROUTE4] == world.eni_a  # not selected
    sim.reset_calls()
    assert node_b.master().code == 0
    assert mutating_calls(sim) == 0


def test_explicit_routes_of_another_instance_win_over_auto(
    world: World, ec2: Any, tmp_path: Path
) -> None:
    explicit = (
        f'[[instances]]\nname = "VI_2"\nroutes = ["{ROUTE4_B}"]\n'
        f'route_tables = ["{world.rtb_clients[0]}"]\n'
    )
    node_b = auto_node(world, world.eni_b, tmp_path, "b", explicit)
    assert node_b.master("VI_1").code == 0
    targets = route_targets(ec2, world.rtb_clients[0])
    assert targets[ROUTE4] == world.eni_b
    assert targets[ROUTE4_B] == world.eni_a  # VI_2's, listed explicitly


def test_auto_routes_need_group_enis(world: World, tmp_path: Path) -> None:
    inst = (
        f'[[instances]]\nname = "VI_1"\nroutes = "auto"\n'
        f'route_tables = ["{world.rtb_clients[0]}"]\n'
    )
    r = Node(world, world.eni_b, tmp_path, "b", instances=inst).master()
    assert r.code == 2
    assert '"auto" needs group.enis' in r.err


# --- config and planner, pure ------------------------------------------------------------------


def settings_of(doc: dict[str, Any]) -> Any:
    from awsfailover.config.schema import Settings

    return Settings(**doc)


@pytest.mark.parametrize(
    ("eips", "message"),
    [
        ([{"allocation_id": "eip-1"}], "not an Elastic IP allocation id"),
        (
            [{"allocation_id": "eipalloc-0123456789abcdef0", "private_ip": "2001:db8::1"}],
            "an Elastic IP maps to a private IPv4 address",
        ),
        (
            [{"allocation_id": "eipalloc-0123456789abcdef0", "private_ip": {"mars-1": "10.0.0.5"}}],
            "not an Availability Zone name",
        ),
        (
            [{"allocation_id": "eipalloc-0123456789abcdef0"}] * 2,
            "duplicate Elastic IP allocation id",
        ),
    ],
)
def test_config_refuses_bad_eips(eips: list[dict[str, Any]], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        settings_of({"instances": [{"name": "VI_1", "vips": ["10.0.1.100"], "eips": eips}]})


def test_config_refuses_an_eip_without_an_address_to_default_to() -> None:
    from pydantic import ValidationError

    inst = {
        "name": "VI_1",
        "routes": ["10.9.0.0/16"],
        "eips": [{"allocation_id": "eipalloc-01234567"}],
    }
    with pytest.raises(ValidationError, match="needs private_ip"):
        settings_of({"instances": [inst]})


def test_config_refuses_one_eip_in_two_instances() -> None:
    from pydantic import ValidationError

    eips = [{"allocation_id": "eipalloc-01234567"}]
    insts = [
        {"name": "VI_1", "vips": ["10.0.1.100"], "eips": eips},
        {"name": "VI_2", "vips": ["10.0.1.101"], "eips": eips},
    ]
    with pytest.raises(ValidationError, match="eipalloc-01234567 is also in VI_1"):
        settings_of({"instances": insts})


def test_config_refuses_two_auto_instances_on_tables_that_may_overlap() -> None:
    from pydantic import ValidationError

    insts = [{"name": n, "routes": "auto"} for n in ("VI_1", "VI_2")]
    with pytest.raises(ValidationError, match="also in VI_1"):
        settings_of({"group": {"enis": ["eni-0123456789abcdef0"]}, "instances": insts})


def _observed(routes: dict[str, Any], **kw: Any) -> Any:
    from awsfailover.core.model import Eni, Observed, RouteTable, Subnet

    local = Eni("eni-b", "subnet-1", "vpc-1", "10.0.1.11", ("10.0.1.11",), ())
    tables = {"rtb-1": RouteTable("rtb-1", "vpc-1", routes, ("subnet-2",))} if routes else {}
    return Observed(
        local=local,
        subnet=Subnet("subnet-1", "vpc-1", "10.0.1.0/24", (), "eu-north-1a"),
        holders=kw.pop("holders", {}),
        tables=tables,
        **kw,
    )


def test_planner_auto_selects_group_routes_only() -> None:
    from awsfailover.config.schema import InstanceSettings
    from awsfailover.core.model import RouteState
    from awsfailover.core.plan import plan

    routes = {
        "10.1.0.0/16": RouteState("10.1.0.0/16", "eni-a", "eni-a"),
        "10.2.0.0/16": RouteState("10.2.0.0/16", "eni-b", "eni-b"),  # ours already
        "10.3.0.0/16": RouteState("10.3.0.0/16", "eni-x", "eni-x"),  # not the group's
        "10.4.0.0/16": RouteState("10.4.0.0/16", "eni-a", "vgw-1", propagated=True),
        "10.5.0.0/16": RouteState("10.5.0.0/16", "eni-a", "eni-a"),  # listed by another
        "0.0.0.0/0": RouteState("0.0.0.0/0", None, "igw-1"),
    }
    inst = InstanceSettings(name="VI_1", routes="auto", route_tables=["rtb-0123456789abcdef0"]).spec
    obs = _observed(
        routes, auto_enis=frozenset({"eni-a", "eni-b"}), claimed=frozenset({"10.5.0.0/16"})
    )
    p = plan(inst, obs)
    assert [a.describe() for a in p.actions] == [
        "replace-route rtb-1 10.1.0.0/16 -> eni-b (was eni-a)"
    ]


def test_planner_eip_follows_the_vip_or_is_associated_after_it() -> None:
    from awsfailover.config.schema import InstanceSettings
    from awsfailover.core.model import AssociateEip, EipState, Eni
    from awsfailover.core.plan import converged_on, plan

    inst = InstanceSettings(
        name="VI_1", vips=["10.0.1.100"], eips=[{"allocation_id": "eipalloc-01234567"}]
    ).spec
    peer = Eni("eni-a", "subnet-1", "vpc-1", "10.0.1.10", ("10.0.1.10", "10.0.1.100"), ())
    holders = {"10.0.1.100": peer}
    on_peer = EipState("eipalloc-01234567", "203.0.113.7", "eni-a", "10.0.1.100")
    p = plan(inst, _observed({}, holders=holders, eips={"eipalloc-01234567": on_peer}))
    assert [type(a).__name__ for a in p.actions] == ["AssignPrivateIps"]  # it follows the VIP
    loose = EipState("eipalloc-01234567", "203.0.113.7", None, None)
    obs = _observed({}, holders=holders, eips={"eipalloc-01234567": loose})
    assoc = [a for a in plan(inst, obs).actions if isinstance(a, AssociateEip)]
    assert len(assoc) == 1 and assoc[0].after_vip and assoc[0].private_ip == "10.0.1.100"
    assert converged_on(inst, obs) is None  # the VIP on A, the Elastic IP nowhere


# --- routes = "auto" on a two-NIC node (issue 17, item 8) ---------------------------------------

ROUTE_PUB = "10.77.0.0/16"  # in VI_1's table, aimed at node A's PUBLIC ENI: the public role's


def two_nic_auto_node(
    world: World, pub: PublicSide, tmp: Path, which: str, route_enis: str = ""
) -> Node:
    private, public = (world.eni_a, pub.eni_a) if which == "a" else (world.eni_b, pub.eni_b)
    enis = ", ".join(f'"{e}"' for e in (world.eni_a, world.eni_b, pub.eni_a, pub.eni_b))
    inst = (
        f'[group]\nenis = [{enis}]\n\n[[instances]]\nname = "VI_1"\nvips = ["{VIP4}"]\n'
        f'routes = "auto"\nroute_tables = ["{world.rtb_clients[0]}"]\n{route_enis}\n'
        + pub.instance_toml("PUB", eni=public)
    )
    return Node(world, private, tmp, which, instances=inst)


def test_auto_routes_on_a_two_nic_node_leave_the_other_role_alone(
    world: World, ec2: Any, sim: SimClient, pub: PublicSide, tmp_path: Path
) -> None:
    rtb = world.rtb_clients[0]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=ROUTE_PUB, NetworkInterfaceId=pub.eni_a)
    node_b = two_nic_auto_node(world, pub, tmp_path, "b")
    r = node_b.run("takeover", "--dry-run", "VI_1")
    assert r.code == 0, r.err
    planned = [line for line in r.out.splitlines() if "replace-route" in line]
    assert len(planned) == 4, r.out  # IPv4 x2, IPv6, prefix list: the private role's
    assert not any(ROUTE_PUB in line for line in planned), r.out
    assert node_b.master("VI_1").code == 0
    targets = route_targets(ec2, rtb)
    assert targets[ROUTE4] == world.eni_b
    assert targets[ROUTE_PUB] == pub.eni_a  # the public role's route was not re-pointed
    sim.reset_calls()
    assert node_b.master("VI_1").code == 0
    assert mutating_calls(sim) == 0
    # status lists the instance's routes only
    doc = json.loads(node_b.run("status", "--json").out)
    vi1 = next(i for i in doc["instances"] if i["name"] == "VI_1")
    assert ROUTE_PUB not in vi1["routes"][rtb]


def test_route_enis_names_the_role_explicitly(
    world: World, ec2: Any, pub: PublicSide, tmp_path: Path
) -> None:
    """A pair in two AZs has no peer ENI in its subnet: route_enis says which are the role's."""
    rtb = world.rtb_clients[0]
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=ROUTE_PUB, NetworkInterfaceId=pub.eni_a)
    node_b = two_nic_auto_node(
        world, pub, tmp_path, "b", route_enis=f'route_enis = ["{pub.eni_a}", "{pub.eni_b}"]'
    )
    r = node_b.run("takeover", "--dry-run", "VI_1")
    planned = [line for line in r.out.splitlines() if "replace-route" in line]
    assert len(planned) == 1 and ROUTE_PUB in planned[0], r.out


def test_route_enis_needs_auto() -> None:
    from pydantic import ValidationError

    inst = {"name": "VI_1", "routes": ["10.9.0.0/16"], "route_enis": ["eni-0123456789abcdef0"]}
    with pytest.raises(ValidationError, match='route_enis needs routes = "auto"'):
        settings_of({"instances": [inst]})
