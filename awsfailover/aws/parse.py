"""EC2's answers, parsed into core.model's dataclasses. Run inside the retried attempt: an
answer that cannot be parsed is retried like a dropped one (aws.classify)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any, TypeVar

from awsfailover.core.model import EipState, Eni, RouteState, RouteTable, Subnet

__all__ = [
    "page",
    "parse_address",
    "parse_eni",
    "parse_route",
    "parse_subnet",
    "parse_table",
]

P = TypeVar("P")


def parse_eni(raw: Any) -> Eni:
    return Eni(
        eni_id=raw["NetworkInterfaceId"],
        subnet_id=raw.get("SubnetId", ""),
        vpc_id=raw.get("VpcId", ""),
        primary_ipv4=raw.get("PrivateIpAddress", ""),
        private_ipv4s=tuple(a["PrivateIpAddress"] for a in raw.get("PrivateIpAddresses", [])),
        ipv6s=tuple(
            str(ipaddress.ip_address(a["Ipv6Address"])) for a in raw.get("Ipv6Addresses", [])
        ),
    )


_TARGET_KEYS = (
    "NetworkInterfaceId",
    "TransitGatewayId",
    "NatGatewayId",
    "VpcPeeringConnectionId",
    "GatewayId",
    "InstanceId",
    "EgressOnlyInternetGatewayId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
)


def parse_route(raw: Any) -> RouteState | None:
    if raw.get("DestinationPrefixListId"):
        dest = raw["DestinationPrefixListId"]
    elif raw.get("DestinationCidrBlock"):
        dest = str(ipaddress.ip_network(raw["DestinationCidrBlock"], strict=False))
    elif raw.get("DestinationIpv6CidrBlock"):
        dest = str(ipaddress.ip_network(raw["DestinationIpv6CidrBlock"], strict=False))
    else:
        return None
    eni = raw.get("NetworkInterfaceId") or None
    target = next((raw[k] for k in _TARGET_KEYS if raw.get(k)), "none")
    if raw.get("State") == "blackhole":
        target = f"blackhole({target})"
    propagated = raw.get("Origin") == "EnableVgwRoutePropagation"
    return RouteState(destination=dest, eni_id=eni, target=target, propagated=propagated)


def parse_table(raw: Any) -> RouteTable:
    routes: dict[str, RouteState] = {}
    for r in raw.get("Routes", []):
        parsed = parse_route(r)
        if parsed is None:
            continue
        # A static and a propagated route may share a destination; the static one wins the
        # traffic ("Route priority", Amazon VPC User Guide) and is the one ReplaceRoute changes.
        known = routes.get(parsed.destination)
        if known is None or (known.propagated and not parsed.propagated):
            routes[parsed.destination] = parsed
    subnets = tuple(
        a["SubnetId"]
        for a in raw.get("Associations", [])
        if a.get("SubnetId") and not a.get("Main")
    )
    return RouteTable(
        table_id=raw["RouteTableId"],
        vpc_id=raw.get("VpcId", ""),
        routes=routes,
        explicit_subnets=subnets,
    )


def parse_subnet(raw: Any) -> Subnet:
    v6 = tuple(
        a["Ipv6CidrBlock"]
        for a in raw.get("Ipv6CidrBlockAssociationSet", [])
        if a.get("Ipv6CidrBlockState", {}).get("State", "associated") == "associated"
    )
    return Subnet(
        subnet_id=raw["SubnetId"],
        vpc_id=raw["VpcId"],
        ipv4_cidr=raw["CidrBlock"],
        ipv6_cidrs=v6,
        availability_zone=raw.get("AvailabilityZone", ""),
    )


def parse_address(raw: Any) -> EipState:
    return EipState(
        allocation_id=raw["AllocationId"],
        public_ip=raw.get("PublicIp", ""),
        eni_id=raw.get("NetworkInterfaceId") or None,
        private_ip=raw.get("PrivateIpAddress") or None,
    )


def page(resp: Any, key: str, parse: Callable[[Any], P]) -> tuple[list[P], str | None]:
    """One page, parsed inside the attempt: a malformed answer is retried like a dropped one."""
    return [parse(r) for r in resp[key]], resp.get("NextToken") or None
