"""Where the local endpoint is made as strict as AWS, and the engine then holds (issue 11).
Each behaviour is tested twice: on the endpoint's side (it behaves as AWS documents) and on
the engine's side (the hook converges, or refuses before any mutating call)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from conftest import Node, mutating_calls

from awsfailover.sim import SimClient
from awsfailover.sim.world import ROUTE4, VIP4, World, route_targets


def second_vpc(ec2: Any) -> dict[str, str]:
    """A staging copy of the same network: same CIDRs, its own ENI holding the same VIP."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.0.1.10")[
        "NetworkInterface"
    ]["NetworkInterfaceId"]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni, PrivateIpAddresses=[VIP4])
    rtb = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
    ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=ROUTE4, NetworkInterfaceId=eni)
    return {"vpc": vpc, "subnet": subnet, "eni": eni, "rtb": rtb}


def vpc_holders(ec2: Any, ip: str) -> dict[str, str]:
    """ENI -> VPC of every holder of ip."""
    resp = ec2.describe_network_interfaces(
        Filters=[{"Name": "addresses.private-ip-address", "Values": [ip]}]
    )
    return {e["NetworkInterfaceId"]: e["VpcId"] for e in resp["NetworkInterfaces"]}


# --- item 1: private addresses are per VPC -----------------------------------------------------


def test_endpoint_addresses_are_per_vpc(world: World, ec2: Any) -> None:
    other = second_vpc(ec2)
    assert vpc_holders(ec2, VIP4) == {world.eni_a: world.vpc_id, other["eni"]: other["vpc"]}
    ec2.assign_private_ip_addresses(
        NetworkInterfaceId=world.eni_b, PrivateIpAddresses=[VIP4], AllowReassignment=True
    )
    # the move happened inside VPC 1; VPC 2's address is another address and stays
    assert vpc_holders(ec2, VIP4) == {world.eni_b: world.vpc_id, other["eni"]: other["vpc"]}


def test_hook_moves_the_vip_of_its_own_vpc_only(world: World, ec2: Any, node_b: Node) -> None:
    other = second_vpc(ec2)
    for _ in range(2):  # whichever order EC2 lists the two holders in
        r = node_b.master()
        assert r.code == 0, r.err
        assert vpc_holders(ec2, VIP4) == {world.eni_b: world.vpc_id, other["eni"]: other["vpc"]}
        ec2.assign_private_ip_addresses(
            NetworkInterfaceId=world.eni_a, PrivateIpAddresses=[VIP4], AllowReassignment=True
        )


# --- item 5: a route table of another VPC ------------------------------------------------------


def test_endpoint_refuses_a_target_from_another_vpc(world: World, ec2: Any) -> None:
    other = second_vpc(ec2)
    with pytest.raises(ClientError) as err:
        ec2.replace_route(
            RouteTableId=other["rtb"], DestinationCidrBlock=ROUTE4, NetworkInterfaceId=world.eni_b
        )
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "different networks" in err.value.response["Error"]["Message"]
    assert route_targets(ec2, other["rtb"])[ROUTE4] == other["eni"]


def test_route_table_of_another_vpc_is_refused_before_acting(
    world: World, ec2: Any, tmp_path: Any, sim: SimClient
) -> None:
    other = second_vpc(ec2)
    sim.reset_calls()
    inst = world.instance_toml(
        "VI_1", vips=[], routes=[ROUTE4], selector=f'route_tables = ["{other["rtb"]}"]'
    )
    r = Node(world, world.eni_b, tmp_path, "b", instances=inst).master()
    assert r.code == 2, r.err
    assert other["rtb"] in r.err and "VPC" in r.err
    assert mutating_calls(sim) == 0
    assert route_targets(ec2, other["rtb"])[ROUTE4] == other["eni"]
