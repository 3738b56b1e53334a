"""Where the local endpoint is made as strict as AWS, and the engine then holds (issue 11).
Each behaviour is tested twice: on the endpoint's side (it behaves as AWS documents) and on
the engine's side (the hook converges, or refuses before any mutating call)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from helpers.nodes import Node, cold_start, mutating_calls

from awsfailover.sim import SimClient
from awsfailover.sim.world import ROUTE4, VIP4, World, ec2_client, holder, route_targets


def one_attempt(world: World) -> Any:
    """A client that shows the endpoint's first answer (botocore's retries off)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "ec2",
        endpoint_url=world.endpoint_url,
        region_name="eu-north-1",
        config=Config(retries={"total_max_attempts": 1}),
    )


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


# --- item 4: propagated routes ----


def propagate(sim: SimClient, world: World, rtb: str, dest: str) -> None:
    sim.add_propagated_route("eu-north-1", rtb, dest, "vgw-0123456789abcdef0")


def test_endpoint_reports_origin_and_refuses_to_replace_a_propagated_route(
    world: World, ec2: Any, sim: SimClient
) -> None:
    rtb = world.rtb_clients[0]
    propagate(sim, world, rtb, "172.31.0.0/16")
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    origins = {r.get("DestinationCidrBlock"): r["Origin"] for r in routes}
    assert origins["172.31.0.0/16"] == "EnableVgwRoutePropagation"
    assert origins[ROUTE4] == "CreateRoute"
    with pytest.raises(ClientError, match="propagated"):
        ec2.replace_route(
            RouteTableId=rtb, DestinationCidrBlock="172.31.0.0/16", NetworkInterfaceId=world.eni_b
        )
    # beside a static route of the same destination, ReplaceRoute changes the static one
    propagate(sim, world, rtb, ROUTE4)
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock=ROUTE4, NetworkInterfaceId=world.eni_b)
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    both = [r for r in routes if r.get("DestinationCidrBlock") == ROUTE4]
    assert {(r["Origin"], r.get("NetworkInterfaceId") or r.get("GatewayId")) for r in both} == {
        ("CreateRoute", world.eni_b),
        ("EnableVgwRoutePropagation", "vgw-0123456789abcdef0"),
    }


def test_propagated_route_is_refused_before_any_mutating_call(
    world: World, tmp_path: Any, sim: SimClient
) -> None:
    rtb = world.rtb_clients[0]
    propagate(sim, world, rtb, "172.31.0.0/16")
    sim.reset_calls()
    inst = world.instance_toml(
        "VI_1", vips=[], routes=["172.31.0.0/16"], selector=f'route_tables = ["{rtb}"]'
    )
    r = Node(world, world.eni_b, tmp_path, "b", instances=inst).master()
    assert r.code == 2, r.err
    assert "propagated" in r.err and "instances.VI_1.routes" in r.err
    assert mutating_calls(sim) == 0


def test_static_route_beside_a_propagated_one_is_moved(
    world: World, ec2: Any, node_b: Node, sim: SimClient
) -> None:
    for rtb in world.rtb_clients:
        propagate(sim, world, rtb, ROUTE4)
    r = node_b.master()
    assert r.code == 0, r.err
    for t in world.rtb_clients:
        routes = ec2.describe_route_tables(RouteTableIds=[t])["RouteTables"][0]["Routes"]
        mine = [r for r in routes if r.get("DestinationCidrBlock") == ROUTE4]
        assert {(r["Origin"], r.get("NetworkInterfaceId") or r.get("GatewayId")) for r in mine} == {
            ("CreateRoute", world.eni_b),
            ("EnableVgwRoutePropagation", "vgw-0123456789abcdef0"),
        }


# --- items 2 and 3: IPv6 moves when answers are lost, whatever the in-use code -----------------


def ipv6_holder(ec2: Any, ip: str) -> list[str]:
    resp = ec2.describe_network_interfaces(
        Filters=[{"Name": "ipv6-addresses.ipv6-address", "Values": [ip]}]
    )
    return sorted(e["NetworkInterfaceId"] for e in resp["NetworkInterfaces"])


def test_endpoint_refuses_to_unassign_an_address_the_eni_does_not_hold(
    world: World, ec2: Any
) -> None:
    with pytest.raises(ClientError, match="not mapped to interface"):
        ec2.unassign_ipv6_addresses(NetworkInterfaceId=world.eni_b, Ipv6Addresses=[world.vip6])
    assert ipv6_holder(ec2, world.vip6) == [world.eni_a]


def test_endpoint_applies_then_drops_the_answer(world: World, ec2: Any, sim: SimClient) -> None:

    once = one_attempt(world)
    sim.set_faults(script={"UnassignIpv6Addresses": ["applied-dropped"]})
    with pytest.raises(Exception, match="onnection"):
        once.unassign_ipv6_addresses(NetworkInterfaceId=world.eni_a, Ipv6Addresses=[world.vip6])
    assert ipv6_holder(ec2, world.vip6) == []  # applied, though the caller never heard


@pytest.mark.parametrize("code", ["InvalidIPAddress.InUse", "InvalidParameterValue"])
def test_ipv6_move_survives_lost_answers_and_either_in_use_code(
    world: World, ec2: Any, node_b: Node, sim: SimClient, code: str
) -> None:
    sim.set_state(ipv6_in_use_code=code, move_delay=0.3)  # the release takes a while
    sim.set_faults(
        script={
            "UnassignIpv6Addresses": ["applied-dropped"],  # its retry meets "not mapped"
            "AssignIpv6Addresses": ["applied-dropped"],  # its retry meets "in use" (ours)
        }
    )
    r = node_b.master()
    assert r.code == 0, r.err
    assert ipv6_holder(ec2, world.vip6) == [world.eni_b]
    outcomes = sim.outcomes()
    assert outcomes.get("UnassignIpv6Addresses:applied-dropped") == 1
    assert outcomes.get("AssignIpv6Addresses:applied-dropped") == 1


def test_every_mutating_call_survives_a_lost_answer(
    world: World, ec2: Any, node_b: Node, sim: SimClient
) -> None:
    sim.set_faults(
        script={
            op: ["applied-dropped"]
            for op in (
                "AssignPrivateIpAddresses",
                "UnassignIpv6Addresses",
                "AssignIpv6Addresses",
                "ReplaceRoute",
            )
        }
    )
    r = node_b.master()
    assert r.code == 0, r.err
    assert holder(ec2, VIP4) == [world.eni_b]
    assert ipv6_holder(ec2, world.vip6) == [world.eni_b]
    assert all(route_targets(ec2, t)[ROUTE4] == world.eni_b for t in world.rtb_clients)


# --- item 9: a proxy's HTML 5xx is transient ----


def test_html_5xx_is_retried(world: World, ec2: Any, node_b: Node, sim: SimClient) -> None:
    sim.set_faults(script={"DescribeNetworkInterfaces": ["html"], "ReplaceRoute": ["html", "html"]})
    r = node_b.master()
    assert r.code == 0, r.err
    assert sim.outcomes().get("ReplaceRoute:html") == 2
    assert all(route_targets(ec2, t)[ROUTE4] == world.eni_b for t in world.rtb_clients)


def test_html_5xx_classifies_transient(world: World, sim: SimClient) -> None:

    from awsfailover.aws.classify import classify
    from awsfailover.errors import TransientError

    once = one_attempt(world)
    sim.set_faults(script={"DescribeSubnets": ["html"]})
    with pytest.raises(Exception) as err:
        once.describe_subnets()
    assert isinstance(classify(err.value, "DescribeSubnets"), TransientError)


# --- item 6: per-instance-type address limits ----


def attach(ec2: Any, world: World, eni: str, instance_type: str) -> None:
    inst = ec2.run_instances(
        ImageId="ami-12c6146b",
        MinCount=1,
        MaxCount=1,
        InstanceType=instance_type,
        SubnetId=world.app_subnet,
    )["Instances"][0]["InstanceId"]
    ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=inst, DeviceIndex=1)


def test_endpoint_enforces_the_instance_types_address_limit(world: World, ec2: Any) -> None:
    attach(ec2, world, world.eni_b, "t3.micro")  # 2 per ENI, primary included
    ec2.assign_private_ip_addresses(
        NetworkInterfaceId=world.eni_b, PrivateIpAddresses=["10.0.1.50"]
    )
    with pytest.raises(ClientError) as err:
        ec2.assign_private_ip_addresses(
            NetworkInterfaceId=world.eni_b, PrivateIpAddresses=["10.0.1.51"]
        )
    assert err.value.response["Error"]["Code"] == "PrivateIpAddressLimitExceeded"
    # a detached ENI has no instance type: no limit (eni_c holds as many as it is given)
    ec2.assign_private_ip_addresses(
        NetworkInterfaceId=world.eni_c, PrivateIpAddresses=[f"10.0.9.{i}" for i in range(20, 30)]
    )


def test_engine_reports_the_limit_clearly(world: World, ec2: Any, node_b: Node) -> None:
    attach(ec2, world, world.eni_b, "t3.micro")  # the two VIPs need 3 addresses
    inst = world.instance_toml("VI_1", vips=[VIP4, "10.0.1.101"], routes=[])
    node_b.config.write_text(node_b.config.read_text().split("[[instances]]")[0] + inst)
    r = node_b.master()
    assert r.code == 1, r.err
    assert "PrivateIpAddressLimitExceeded" in r.err and "doctor" in r.err, r.err
    assert "NOT moved: vip 10.0.1.100, vip 10.0.1.101" in r.err


# --- item 8: pagination ----


def test_endpoint_paginates_with_small_and_empty_pages(world: World, ec2: Any) -> None:
    for i in range(5):  # 7 ENIs in the app subnet
        ec2.create_network_interface(SubnetId=world.app_subnet, PrivateIpAddress=f"10.0.1.{60 + i}")
    kw: dict[str, Any] = {
        "Filters": [{"Name": "subnet-id", "Values": [world.app_subnet]}],
        "MaxResults": 1000,
    }
    pages: list[int] = []
    seen: list[str] = []
    for _ in range(20):
        resp = ec2.describe_network_interfaces(**kw)
        pages.append(len(resp["NetworkInterfaces"]))
        seen += [e["NetworkInterfaceId"] for e in resp["NetworkInterfaces"]]
        if not resp.get("NextToken"):
            break
        kw["NextToken"] = resp["NextToken"]
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 7
    assert max(pages) <= 2 and 0 in pages  # short pages, and an empty one mid-way
    with pytest.raises(ClientError, match="InvalidParameterCombination"):
        ec2.describe_network_interfaces(NetworkInterfaceIds=[world.eni_a], MaxResults=5)
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        ec2.describe_route_tables(MaxResults=101)


def test_agent_reconcile_reads_every_page(env: Any, tmp_path: Any) -> None:
    from helpers.agents import Running, make_agent, wait_for, write_config

    from awsfailover.keepalived.protocol import Transition
    from awsfailover.sim.world import ec2_client

    sim, world = env
    ec2 = ec2_client(world.endpoint_url)
    for i in range(5):  # enough ENIs and tables for several pages, one of them empty
        ec2.create_network_interface(SubnetId=world.app_subnet, PrivateIpAddress=f"10.0.1.{60 + i}")
        ec2.create_route_table(VpcId=world.vpc_id)
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    with Running(make_agent(cfg)) as agent:
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(lambda: agent.workers["VI_1"].idle() and holder(ec2, VIP4) == [world.eni_b])
        # the VIP's holder is on the last page of the subnet's ENIs; a route on a late table
        ec2.assign_private_ip_addresses(
            NetworkInterfaceId=world.eni_a, PrivateIpAddresses=[VIP4], AllowReassignment=True
        )
        sim.reset_calls()
        assert agent.reconcile()
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b])
        calls = sim.calls()
        assert calls["DescribeNetworkInterfaces"] > 2  # several pages were read


# --- item 7: confirmation through instance metadata, which lags the API ----


def imds_env(world: World, eni: str) -> dict[str, str]:
    """This node's instance metadata: the endpoint's view for the instance owning eni."""
    return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": f"{world.endpoint_url}/_imds/{eni}/"}


def metadata_ipv4s(world: World, eni: str) -> list[str]:
    from awsfailover.aws.imds import Imds

    imds = Imds(f"{world.endpoint_url}/_imds/{eni}/")
    return imds.get("network/interfaces/macs/00:00:00:00:00:00/local-ipv4s").split()


def test_endpoint_metadata_view_lags_the_api(world: World, ec2: Any, sim: SimClient) -> None:
    import time

    sim.set_state(metadata_delay=0.6)
    time.sleep(0.7)  # metadata has caught up with how the world was built
    ec2.assign_private_ip_addresses(
        NetworkInterfaceId=world.eni_b, PrivateIpAddresses=[VIP4], AllowReassignment=True
    )
    assert holder(ec2, VIP4) == [world.eni_b]  # the API says moved ...
    assert VIP4 not in metadata_ipv4s(world, world.eni_b)  # ... the new owner does not see it
    assert VIP4 in metadata_ipv4s(world, world.eni_a)
    time.sleep(0.7)
    assert VIP4 in metadata_ipv4s(world, world.eni_b)
    assert VIP4 not in metadata_ipv4s(world, world.eni_a)


def test_hook_confirms_its_vips_in_metadata(world: World, node_b: Node, sim: SimClient) -> None:
    import time

    sim.set_state(metadata_delay=1.0)
    started = time.monotonic()
    r = node_b.master(env=imds_env(world, world.eni_b))
    assert r.code == 0, r.err
    assert time.monotonic() - started >= 1.0  # it waited for metadata, not only the API
    assert "confirming through the API only" not in r.err


def test_vip_missing_from_metadata_past_the_deadline_is_not_moved(
    world: World, node_b: Node, sim: SimClient
) -> None:
    node_b.config.write_text(node_b.config.read_text().replace("deadline = 10", "deadline = 2"))
    sim.set_state(metadata_delay=30)
    r = node_b.master(env=imds_env(world, world.eni_b))
    assert r.code == 1, r.err
    assert "not in this node's instance metadata" in r.err
    line = next(x for x in r.err.splitlines() if "error:" in x)
    assert "NOT moved: vip 10.0.1.100" in line


def test_moves_that_succeeded_are_confirmed_when_another_failed(
    world: World, node_b: Node, sim: SimClient
) -> None:
    # IPv4 only: the assign returns at once (no IPv6 release to wait for), the routes fail at
    # once, and the VIP shows in the API half a second later
    inst = world.instance_toml("VI_1", vips=[VIP4])
    node_b.config.write_text(node_b.config.read_text().split("[[instances]]")[0] + inst)
    sim.set_move_delay(0.5)
    sim.set_faults(refuse={"ReplaceRoute": "UnauthorizedOperation"})
    r = node_b.master()
    assert r.code == 1
    line = next(x for x in r.err.splitlines() if "error:" in x)
    moved = line.split("; moved: ", 1)[1].split("; NOT moved: ", 1)[0]
    assert moved == "vip 10.0.1.100", line
    assert "route" in line.split("; NOT moved: ", 1)[1]


# --- item 10: shared buckets, and ID-only calls in the small bucket ----


def test_id_only_describe_counts_in_the_unfiltered_bucket() -> None:
    from awsfailover.sim.faults import bucket_for

    by_id = {"Action": ["DescribeNetworkInterfaces"], "NetworkInterfaceId.1": ["eni-1"]}
    filtered = {"Action": ["DescribeNetworkInterfaces"], "Filter.1.Name": ["subnet-id"]}
    assert bucket_for("DescribeNetworkInterfaces", by_id) == (
        "DescribeNetworkInterfaces(unfiltered)",
        (50.0, 10.0),
    )
    assert bucket_for("DescribeNetworkInterfaces", filtered)[1] == (100.0, 20.0)


def test_takeover_converges_within_deadline_on_half_of_each_bucket(
    world: World, ec2: Any, node_b: Node, sim: SimClient
) -> None:
    import time

    # a fifth of EC2's buckets, half of that left by other clients: ReplaceRoute has a burst
    # of 5 and 0.5 tokens a second for our 6 routes
    sim.set_faults(buckets=True, bucket_scale=0.2, bucket_share=0.5)
    started = time.monotonic()
    r = node_b.master()
    took = time.monotonic() - started
    assert r.code == 0, r.err
    assert sim.outcomes().get("ReplaceRoute:throttled", 0) >= 1  # the buckets did bite
    assert took < 10 + 1 + 1.5 * cold_start()
    assert all(route_targets(ec2, t)[ROUTE4] == world.eni_b for t in world.rtb_clients)


def test_agent_refuses_a_move_beyond_the_limit_at_plan_time(
    env: Any, tmp_path: Any, caplog: Any
) -> None:
    from helpers.agents import Running, make_agent, sample, wait_for, write_config

    from awsfailover.keepalived.protocol import Transition
    from awsfailover.sim.world import ec2_client

    sim, world = env
    ec2 = ec2_client(world.endpoint_url)
    attach(ec2, world, world.eni_b, "t3.micro")
    inst = world.instance_toml("VI_1", vips=[VIP4, "10.0.1.101"], routes=[])
    cfg = write_config(world, world.eni_b, tmp_path, "b", instances=inst)
    with Running(make_agent(cfg)) as agent:
        assert agent.engine.ipv4_limit == ("t3.micro", 2)
        sim.reset_calls()
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(
            lambda: (
                sample(agent, "awsfailover_takeovers_total", instance="VI_1", result="failed") == 1
            )
        )
        assert "t3.micro allows 2 per ENI" in caplog.text
        assert not sim.calls().get("AssignPrivateIpAddresses")


def test_an_instance_of_vips_only_is_confirmed_in_metadata_without_a_describe(
    world: World, node_b: Node, sim: SimClient
) -> None:
    """Issue 18, item 4: where this instance's metadata already shows every moved VIP, no
    Describe has to show them too. The same takeover with metadata unreachable confirms
    through the API: it needs more DescribeNetworkInterfaces."""
    inst = world.instance_toml("VI_1", vips=[VIP4], routes=[])
    node_b.config.write_text(node_b.config.read_text().split("[[instances]]")[0] + inst)
    ec2 = ec2_client(world.endpoint_url)
    counts = {}
    for label, env in (("api", {}), ("metadata", imds_env(world, world.eni_b))):
        ec2.assign_private_ip_addresses(
            NetworkInterfaceId=world.eni_a, PrivateIpAddresses=[VIP4], AllowReassignment=True
        )
        sim.reset_calls()
        r = node_b.master(env=env)
        assert r.code == 0, r.err
        assert holder(ec2, VIP4) == [world.eni_b]
        counts[label] = sim.calls().get("DescribeNetworkInterfaces", 0)
        # confirmed, not acted again: the observation confirmed in metadata is converged
        assert sim.calls().get("AssignPrivateIpAddresses", 0) == 1, (label, sim.calls())
        assert "not converged" not in r.err, r.err
    assert counts["metadata"] < counts["api"], counts
