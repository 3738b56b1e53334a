"""The local endpoint is at least as strict as EC2 where awsfailover relies on it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from awsfailover.sim import SimClient
from awsfailover.sim.world import ROUTE4, VIP4, holder, route_targets


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_move_without_allow_reassignment_is_refused(world, ec2):
    with pytest.raises(ClientError) as e:
        ec2.assign_private_ip_addresses(NetworkInterfaceId=world.eni_b, PrivateIpAddresses=[VIP4])
    assert code(e) == "InvalidParameterValue" and "move is not allowed" in str(e.value)
    assert holder(ec2, VIP4) == [world.eni_a]


def test_allow_reassignment_moves_and_leaves_old_holder(world, ec2):
    ec2.assign_private_ip_addresses(
        NetworkInterfaceId=world.eni_b, PrivateIpAddresses=[VIP4], AllowReassignment=True
    )
    assert holder(ec2, VIP4) == [world.eni_b]


def test_all_or_nothing_and_subnet_bound(world, ec2):
    with pytest.raises(ClientError) as e:
        ec2.assign_private_ip_addresses(
            NetworkInterfaceId=world.eni_b,
            PrivateIpAddresses=["10.0.1.200", "10.0.7.7"],
            AllowReassignment=True,
        )
    assert code(e) == "InvalidParameterValue"
    assert holder(ec2, "10.0.1.200") == []


def test_primary_address_cannot_be_taken(world, ec2):
    with pytest.raises(ClientError):
        ec2.assign_private_ip_addresses(
            NetworkInterfaceId=world.eni_b, PrivateIpAddresses=["10.0.1.10"], AllowReassignment=True
        )


def test_ipv6_has_one_holder(world, ec2):
    with pytest.raises(ClientError) as e:
        ec2.assign_ipv6_addresses(NetworkInterfaceId=world.eni_b, Ipv6Addresses=[world.vip6])
    # AWS documents no code for this; the endpoint answers the one it is set to (default
    # InvalidIPAddress.InUse), and test_faithful runs the engine against both
    assert code(e) == "InvalidIPAddress.InUse"
    ec2.unassign_ipv6_addresses(NetworkInterfaceId=world.eni_a, Ipv6Addresses=[world.vip6])
    ec2.assign_ipv6_addresses(NetworkInterfaceId=world.eni_b, Ipv6Addresses=[world.vip6])
    assert holder(ec2, world.vip6) == [world.eni_b]


def test_replace_route_honours_dry_run(world, ec2):
    rtb = world.rtb_clients[0]
    with pytest.raises(ClientError) as e:
        ec2.replace_route(
            RouteTableId=rtb,
            DestinationCidrBlock=ROUTE4,
            NetworkInterfaceId=world.eni_b,
            DryRun=True,
        )
    assert code(e) == "DryRunOperation"
    assert route_targets(ec2, rtb)[ROUTE4] == world.eni_a


def test_replace_route_prefix_list_and_missing(world, ec2):
    rtb = world.rtb_clients[0]
    ec2.replace_route(
        RouteTableId=rtb, DestinationPrefixListId=world.prefix_list, NetworkInterfaceId=world.eni_b
    )
    assert route_targets(ec2, rtb)[world.prefix_list] == world.eni_b
    with pytest.raises(ClientError) as e:
        ec2.replace_route(
            RouteTableId=rtb, DestinationCidrBlock="10.77.0.0/16", NetworkInterfaceId=world.eni_b
        )
    assert code(e) == "InvalidParameterValue"


def test_filter_sees_secondary_addresses_any_match(world, ec2):
    resp = ec2.describe_network_interfaces(
        Filters=[{"Name": "addresses.private-ip-address", "Values": [VIP4, "10.0.1.250"]}]
    )
    assert [e["NetworkInterfaceId"] for e in resp["NetworkInterfaces"]] == [world.eni_a]


def test_move_delay_is_visible(world, ec2, sim):
    sim.set_move_delay(0.4)
    ec2.assign_private_ip_addresses(
        NetworkInterfaceId=world.eni_b, PrivateIpAddresses=[VIP4], AllowReassignment=True
    )
    assert holder(ec2, VIP4) == [world.eni_a]
    time.sleep(0.6)
    assert holder(ec2, VIP4) == [world.eni_b]


def test_token_bucket_throttles_replace_route(world, sim):
    import math

    from awsfailover.aws.clients import make_ec2_client

    ec2 = make_ec2_client("eu-north-1", sim.url)  # botocore retries off: we see each answer
    sim.set_faults(buckets=True, bucket_scale=0.1)  # burst 5, refill 0.5/s for ReplaceRoute
    outcomes = []
    started = time.monotonic()
    for _ in range(8):
        try:
            ec2.replace_route(
                RouteTableId=world.rtb_app,
                DestinationCidrBlock=ROUTE4,
                NetworkInterfaceId=world.eni_b,
            )
            outcomes.append("ok")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    # The bucket refills while we call: a busy machine's slow calls earn whole tokens back.
    refilled = math.floor(0.5 * (time.monotonic() - started))
    assert outcomes[:5] == ["ok"] * 5  # the burst
    assert set(outcomes[5:]) <= {"ok", "RequestLimitExceeded"}
    assert outcomes.count("ok") <= 5 + refilled, (outcomes, refilled)
    if refilled < 3:
        assert "RequestLimitExceeded" in outcomes[5:], (outcomes, refilled)


def test_injected_5xx_and_drops_are_counted(world, ec2, sim):
    from awsfailover.aws.clients import make_ec2_client

    c = make_ec2_client("eu-north-1", sim.url)
    sim.set_faults(error_rate=1.0, actions=["DescribeVpcs"])
    with pytest.raises(ClientError) as e:
        c.describe_vpcs()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    sim.set_faults(drop_rate=1.0, actions=["DescribeVpcs"])
    with pytest.raises(Exception, match=r"(?i)connection"):
        c.describe_vpcs()
    out = sim.outcomes()
    assert out["DescribeVpcs:error"] == 1 and out["DescribeVpcs:dropped"] == 1


def test_world_built_in_the_endpoint_matches_the_api_built_one(sim: SimClient) -> None:
    """The tests build their world inside the endpoint (fast); it must be the network the API
    calls of world.build() make, as every Describe the engine uses sees it."""
    from awsfailover.sim.world import build, ec2_client

    def shape(w: Any) -> Any:
        ec2 = ec2_client(w.endpoint_url)
        names = {
            w.vpc_id: "vpc",
            w.app_subnet: "app",
            w.other_subnet: "other",
            **{s: f"client{i}" for i, s in enumerate(w.client_subnets)},
            w.eni_a: "A",
            w.eni_b: "B",
            w.eni_c: "C",
            w.prefix_list: "pl",
            w.rtb_app: "rtb-app",
            w.rtb_main: "rtb-main",
            **{t: f"rtb-client{i}" for i, t in enumerate(w.rtb_clients)},
        }

        def n(x: Any) -> Any:
            return names.get(x, x)

        subnets = sorted(
            (
                n(s["SubnetId"]),
                s["CidrBlock"],
                s["AvailabilityZone"],
                len(s.get("Ipv6CidrBlockAssociationSet", [])),
            )
            for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [w.vpc_id]}])[
                "Subnets"
            ]
        )
        enis = sorted(
            (
                n(e["NetworkInterfaceId"]),
                n(e["SubnetId"]),
                e["PrivateIpAddress"],
                tuple(sorted(a["PrivateIpAddress"] for a in e["PrivateIpAddresses"])),
                tuple(a["Ipv6Address"] == w.vip6 for a in e.get("Ipv6Addresses", [])),
                e["SourceDestCheck"],
            )
            for e in ec2.describe_network_interfaces(
                Filters=[{"Name": "vpc-id", "Values": [w.vpc_id]}]
            )["NetworkInterfaces"]
        )
        tables = sorted(
            (
                n(t["RouteTableId"]),
                tuple(sorted((n(a.get("SubnetId")), a.get("Main")) for a in t["Associations"])),
                tuple(
                    sorted(
                        (
                            n(
                                r.get("DestinationCidrBlock")
                                or r.get("DestinationIpv6CidrBlock")
                                or r.get("DestinationPrefixListId")
                            ),
                            n(r.get("NetworkInterfaceId") or r.get("GatewayId")),
                            r.get("Origin"),
                            r.get("State"),
                        )
                        for r in t["Routes"]
                        if r.get("GatewayId") != "local"
                    )
                ),
            )
            for t in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [w.vpc_id]}])[
                "RouteTables"
            ]
        )
        return subnets, enis, tables

    by_api = shape(build(sim.url))
    sim.reset()
    assert shape(sim.build_world()) == by_api


@pytest.mark.parametrize("last", ["0", "1", "2", "3", "255"])
def test_reserved_ipv4_addresses_are_refused(world, ec2, last: str) -> None:
    """AWS reserves the first four and the last address of every subnet (issue 17)."""
    ip = f"10.0.1.{last}"
    with pytest.raises(ClientError) as e:
        ec2.assign_private_ip_addresses(
            NetworkInterfaceId=world.eni_b, PrivateIpAddresses=[ip], AllowReassignment=True
        )
    assert code(e) == "InvalidParameterValue" and "reserved" in str(e.value)
    assert holder(ec2, ip) == []
    ec2.assign_private_ip_addresses(  # the first one after them is an ordinary address
        NetworkInterfaceId=world.eni_b, PrivateIpAddresses=["10.0.1.4"], AllowReassignment=True
    )


def test_reserved_ipv6_addresses_are_refused(world, ec2) -> None:
    import ipaddress

    net = ipaddress.ip_network(world.app_ipv6_cidr)
    for ip in (net[0], net[3], net[-1]):
        with pytest.raises(ClientError) as e:
            ec2.assign_ipv6_addresses(NetworkInterfaceId=world.eni_b, Ipv6Addresses=[str(ip)])
        assert code(e) == "InvalidParameterValue" and "reserved" in str(e.value)


def test_a_route_to_a_deleted_eni_is_a_blackhole(world, ec2) -> None:
    """AWS reports State blackhole for a route whose target ENI is gone; moto said active."""
    rtb = world.rtb_clients[0]
    spare = ec2.create_network_interface(SubnetId=world.app_subnet)["NetworkInterface"][
        "NetworkInterfaceId"
    ]
    ec2.create_route(
        RouteTableId=rtb, DestinationCidrBlock="10.88.0.0/16", NetworkInterfaceId=spare
    )

    def state() -> str:
        table = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]
        return next(
            r["State"] for r in table["Routes"] if r.get("DestinationCidrBlock") == "10.88.0.0/16"
        )

    assert state() == "active"
    ec2.delete_network_interface(NetworkInterfaceId=spare)
    assert state() == "blackhole"
    ec2.replace_route(
        RouteTableId=rtb, DestinationCidrBlock="10.88.0.0/16", NetworkInterfaceId=world.eni_b
    )
    assert state() == "active"
