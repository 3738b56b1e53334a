"""Build a failover group's VPC in the local endpoint: the demo's and the tests' fixture.

Layout (dual stack):
  subnet "app"     10.0.1.0/24  + an IPv6 /64: ENI A (10.0.1.10), ENI B (10.0.1.11); the VIPs
  subnet "other"   10.0.9.0/24: ENI C, for the cross-subnet refusals
  subnets "c1","c2" 10.0.2.0/24, 10.0.3.0/24: clients; each has its own explicit route table
  rtb "app" explicitly associated with the app subnet; the main table carries the same
  routes too, so a test can prove it is never touched.
Every protected route (IPv4, IPv6, prefix list) starts pointing at ENI A, and the VIPs start
on ENI A: node A is the initial master.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

REGION = "eu-north-1"
VIP4 = "10.0.1.100"
VIP4_B = "10.0.1.101"
ROUTE4 = "192.168.50.0/24"
ROUTE4_B = "192.168.60.0/24"
ROUTE6 = "2001:db8:ff::/64"
CLIENT_CIDRS = ("10.0.2.0/24", "10.0.3.0/24")


@dataclass
class World:
    endpoint_url: str
    vpc_id: str
    app_subnet: str
    other_subnet: str
    client_subnets: list[str]
    eni_a: str
    eni_b: str
    eni_c: str
    vip6: str
    prefix_list: str
    rtb_app: str
    rtb_clients: list[str]
    rtb_main: str
    app_ipv6_cidr: str

    def config_toml(
        self, eni: str, *, instances: str | None = None, state_dir: Path, extra: str = ""
    ) -> str:
        inst = instances if instances is not None else self.instance_toml()
        return (
            f'region = "{REGION}"\nendpoint_url = "{self.endpoint_url}"\n{extra}\n'
            f'[node]\ninterface = "lo"\neni_id = "{eni}"\n\n'
            f'[failover]\ndeadline = 10\nstate_dir = "{state_dir}"\n\n{inst}'
        )

    def instance_toml(
        self,
        name: str = "VI_1",
        *,
        vips: list[str] | None = None,
        routes: list[str] | None = None,
        selector: str | None = None,
    ) -> str:
        vips = vips if vips is not None else [VIP4, self.vip6]
        routes = routes if routes is not None else [ROUTE4, ROUTE6, self.prefix_list]
        if selector is None:
            selector = f"route_tables = {_toml_list(self.rtb_clients)}"
        return (
            f'[[instances]]\nname = "{name}"\nvips = {_toml_list(vips)}\n'
            f"routes = {_toml_list(routes)}\n{selector}\n\n"
        )


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def ec2_client(endpoint_url: str, region: str = REGION) -> EC2Client:
    import boto3

    client: EC2Client = boto3.client(
        "ec2",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - fake
    )
    return client


def build(endpoint_url: str) -> World:
    ec2 = ec2_client(endpoint_url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16", AmazonProvidedIpv6CidrBlock=True)["Vpc"]
    vpc_id = vpc["VpcId"]
    vpc6 = ipaddress.ip_network(vpc["Ipv6CidrBlockAssociationSet"][0]["Ipv6CidrBlock"])
    app6 = str(next(vpc6.subnets(new_prefix=64)))
    app = ec2.create_subnet(
        VpcId=vpc_id, CidrBlock="10.0.1.0/24", Ipv6CidrBlock=app6, AvailabilityZone=f"{REGION}a"
    )["Subnet"]["SubnetId"]
    other = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.9.0/24", AvailabilityZone=f"{REGION}b")[
        "Subnet"
    ]["SubnetId"]
    clients = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=c, AvailabilityZone=f"{REGION}a")["Subnet"][
            "SubnetId"
        ]
        for c in CLIENT_CIDRS
    ]
    vip6 = str(ipaddress.ip_network(app6)[0x100])

    def eni(subnet: str, ip: str) -> str:
        return ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress=ip)[
            "NetworkInterface"
        ]["NetworkInterfaceId"]

    eni_a, eni_b = eni(app, "10.0.1.10"), eni(app, "10.0.1.11")
    eni_c = eni(other, "10.0.9.10")
    for e in (eni_a, eni_b, eni_c):
        ec2.modify_network_interface_attribute(
            NetworkInterfaceId=e, SourceDestCheck={"Value": False}
        )
    ec2.assign_private_ip_addresses(NetworkInterfaceId=eni_a, PrivateIpAddresses=[VIP4, VIP4_B])
    ec2.assign_ipv6_addresses(NetworkInterfaceId=eni_a, Ipv6Addresses=[vip6])

    pl = ec2.create_managed_prefix_list(
        PrefixListName="protected",
        MaxEntries=10,
        AddressFamily="IPv4",
        Entries=[{"Cidr": "172.16.0.0/16"}],
    )["PrefixList"]["PrefixListId"]

    main = ec2.describe_route_tables(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "association.main", "Values": ["true"]},
        ]
    )["RouteTables"][0]["RouteTableId"]

    def table(subnet: str | None) -> str:
        rtb = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
        if subnet:
            ec2.associate_route_table(RouteTableId=rtb, SubnetId=subnet)
        return rtb

    rtb_app = table(app)
    rtb_clients = [table(s) for s in clients]
    for rtb in (rtb_app, *rtb_clients, main):
        for dest in (ROUTE4, ROUTE4_B):
            ec2.create_route(RouteTableId=rtb, DestinationCidrBlock=dest, NetworkInterfaceId=eni_a)
        ec2.create_route(
            RouteTableId=rtb, DestinationIpv6CidrBlock=ROUTE6, NetworkInterfaceId=eni_a
        )
        ec2.create_route(RouteTableId=rtb, DestinationPrefixListId=pl, NetworkInterfaceId=eni_a)
    return World(
        endpoint_url=endpoint_url,
        vpc_id=vpc_id,
        app_subnet=app,
        other_subnet=other,
        client_subnets=clients,
        eni_a=eni_a,
        eni_b=eni_b,
        eni_c=eni_c,
        vip6=vip6,
        prefix_list=pl,
        rtb_app=rtb_app,
        rtb_clients=rtb_clients,
        rtb_main=main,
        app_ipv6_cidr=app6,
    )


def build_in_backend(region: str = REGION, account: str = "123456789012") -> dict[str, Any]:
    """The same world as build(), made by moto's backend in the endpoint's own process: about
    forty API calls cost the tests' CPU (signing, HTTP, XML both ways) for every test, and
    the tests are CPU-bound. Runs through the strict patches like the API would; returns the
    World's fields (without endpoint_url). Keep it in step with build(): test_sim_strict
    compares the two."""
    from moto.ec2.models import ec2_backends

    from awsfailover.sim import strict

    b = ec2_backends[account][region]
    with strict.lock:  # one world at a time, as the patched calls are
        vpc = b.create_vpc(
            "10.0.0.0/16",
            amazon_provided_ipv6_cidr_block=True,
            ipv6_cidr_block_network_border_group=region,
        )
        vpc6 = ipaddress.ip_network(vpc.get_cidr_block_association_set(ipv6=True)[0]["cidr_block"])
        app6 = str(next(vpc6.subnets(new_prefix=64)))
        app = b.create_subnet(vpc.id, "10.0.1.0/24", app6, f"{region}a")
        other = b.create_subnet(vpc.id, "10.0.9.0/24", None, f"{region}b")
        clients = [b.create_subnet(vpc.id, c, None, f"{region}a") for c in CLIENT_CIDRS]
        vip6 = str(ipaddress.ip_network(app6)[0x100])
        enis = [
            b.create_network_interface(subnet, ip, [], [], None, {})
            for subnet, ip in ((app, "10.0.1.10"), (app, "10.0.1.11"), (other, "10.0.9.10"))
        ]
        for e in enis:
            b.modify_network_interface_attribute(e.id, [], source_dest_check=False)
        eni_a = enis[0].id
        b.assign_private_ip_addresses(eni_a, [VIP4, VIP4_B])
        b.assign_ipv6_addresses(eni_a, [vip6])
        pl = b.create_managed_prefix_list(
            address_family="IPv4",
            entry=[{"Cidr": "172.16.0.0/16"}],
            max_entries="10",
            prefix_list_name="protected",
        ).id
        main = next(
            t.id for t in b.route_tables.values() if t.vpc_id == vpc.id and t.main_association_id
        )

        def table(subnet: Any) -> str:
            rtb = b.create_route_table(vpc.id)
            if subnet is not None:
                b.associate_route_table(rtb.id, subnet_id=subnet.id)
            return str(rtb.id)

        rtb_app = table(app)
        rtb_clients = [table(c) for c in clients]
        for rtb in (rtb_app, *rtb_clients, main):
            for dest in (ROUTE4, ROUTE4_B):
                b.create_route(rtb, dest, interface_id=eni_a)
            b.create_route(rtb, None, ROUTE6, interface_id=eni_a)
            b.create_route(rtb, None, None, pl, interface_id=eni_a)
    return {
        "vpc_id": vpc.id,
        "app_subnet": app.id,
        "other_subnet": other.id,
        "client_subnets": [c.id for c in clients],
        "eni_a": eni_a,
        "eni_b": enis[1].id,
        "eni_c": enis[2].id,
        "vip6": vip6,
        "prefix_list": pl,
        "rtb_app": rtb_app,
        "rtb_clients": rtb_clients,
        "rtb_main": main,
        "app_ipv6_cidr": app6,
    }


def holder(ec2: EC2Client, ip: str) -> list[str]:
    """Every ENI holding ip (a correct double never returns more than one)."""
    name = "ipv6-addresses.ipv6-address" if ":" in ip else "addresses.private-ip-address"
    resp = ec2.describe_network_interfaces(Filters=[{"Name": name, "Values": [ip]}])
    return sorted(e["NetworkInterfaceId"] for e in resp["NetworkInterfaces"])


def route_targets(ec2: EC2Client, rtb: str) -> dict[str, str]:
    routes = ec2.describe_route_tables(RouteTableIds=[rtb])["RouteTables"][0]["Routes"]
    out = {}
    for r in routes:
        dest = (
            r.get("DestinationCidrBlock")
            or r.get("DestinationIpv6CidrBlock")
            or r.get("DestinationPrefixListId")
        )
        out[str(dest)] = str(r.get("NetworkInterfaceId") or r.get("GatewayId"))
    return out


PUBLIC_VIP = "10.0.4.100"


@dataclass
class PublicSide:
    """The public side of the pair: each node's second ENI (a two-NIC appliance), in subnet
    "pub" 10.0.4.0/24 of the same AZ; the public VIP and its Elastic IP start on node A's."""

    subnet: str
    eni_a: str
    eni_b: str
    allocation_id: str
    public_ip: str

    def instance_toml(self, name: str = "PUB", *, eni: str | None = None, extra: str = "") -> str:
        own = f'eni_id = "{eni}"\n' if eni else ""
        return (
            f'[[instances]]\nname = "{name}"\nvips = ["{PUBLIC_VIP}"]\n{own}'
            f'eips = [{{ allocation_id = "{self.allocation_id}" }}]\n{extra}\n'
        )


def add_public_side(world: World) -> PublicSide:
    ec2 = ec2_client(world.endpoint_url)
    subnet = ec2.create_subnet(
        VpcId=world.vpc_id, CidrBlock="10.0.4.0/24", AvailabilityZone=f"{REGION}a"
    )["Subnet"]["SubnetId"]
    enis = [
        ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress=ip)["NetworkInterface"][
            "NetworkInterfaceId"
        ]
        for ip in ("10.0.4.10", "10.0.4.11")
    ]
    ec2.assign_private_ip_addresses(NetworkInterfaceId=enis[0], PrivateIpAddresses=[PUBLIC_VIP])
    eip = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(
        AllocationId=eip["AllocationId"],
        NetworkInterfaceId=enis[0],
        PrivateIpAddress=PUBLIC_VIP,
        AllowReassociation=True,
    )
    return PublicSide(
        subnet=subnet,
        eni_a=enis[0],
        eni_b=enis[1],
        allocation_id=eip["AllocationId"],
        public_ip=eip["PublicIp"],
    )


def disassociate(ec2: EC2Client, allocation_id: str) -> None:
    """Leave the Elastic IP unassociated (a hand-made drift, or a fresh address)."""
    a = ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0]
    ec2.disassociate_address(AssociationId=a["AssociationId"])


def eip_association(ec2: EC2Client, allocation_id: str) -> tuple[str | None, str | None]:
    """(ENI, private address) the Elastic IP maps to."""
    a = ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0]
    return a.get("NetworkInterfaceId"), a.get("PrivateIpAddress")


LEASE_TABLE = "awsfailover-leases"


def create_lease_table(endpoint_url: str, name: str = LEASE_TABLE, region: str = REGION) -> str:
    """The arbiter's table as the Terraform module makes it: partition key lease_id (string),
    on-demand, deletion protection on."""
    import boto3

    ddb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - fake
    )
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "lease_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lease_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        DeletionProtectionEnabled=True,
    )
    return name


def arbiter_toml(table: str = LEASE_TABLE, ttl: float = 3.0, on_unreachable: str = "act") -> str:
    """The config lines of a group with the arbiter (TOML tables: put them before [node])."""
    return (
        f'[group]\nname = "lab"\n\n[arbiter]\ntable = "{table}"\nlease_ttl = {ttl:g}\n'
        f'on_unreachable = "{on_unreachable}"\n\n'
    )
