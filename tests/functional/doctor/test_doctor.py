"""doctor: a correct setup is all PASS; each broken setup fails on its own line."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.nodes import Node

from awsfailover.sim.imds import FakeImds
from awsfailover.sim.world import REGION, ROUTE4, ROUTE4_B, VIP4, World

LO_MAC = "00:00:00:00:00:00"


class Setup:
    def __init__(self, world: World, ec2: Any) -> None:
        self.world, self.ec2 = world, ec2
        self.sg = ec2.create_security_group(
            GroupName="appliances", Description="failover group", VpcId=world.vpc_id
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=self.sg,
            IpPermissions=[{"IpProtocol": "112", "UserIdGroupPairs": [{"GroupId": self.sg}]}],
        )
        self.reservation = ec2.create_subnet_cidr_reservation(
            SubnetId=world.app_subnet, Cidr=f"{VIP4}/32", ReservationType="explicit"
        )["SubnetCidrReservation"]["SubnetCidrReservationId"]
        self.instances = {}
        for eni in (world.eni_a, world.eni_b, world.eni_c):
            self.join(eni)
        # dedicated route tables: the world's second client route belongs to no instance here
        for rtb in world.rtb_clients:
            ec2.delete_route(RouteTableId=rtb, DestinationCidrBlock=ROUTE4_B)

    def join(self, eni: str, instance_type: str = "c5.large") -> None:
        subnet = self.ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])[
            "NetworkInterfaces"
        ][0]["SubnetId"]
        inst = self.ec2.run_instances(
            ImageId="ami-12c6146b",
            MinCount=1,
            MaxCount=1,
            InstanceType=instance_type,
            SubnetId=subnet,
        )["Instances"][0]["InstanceId"]
        self.ec2.attach_network_interface(NetworkInterfaceId=eni, InstanceId=inst, DeviceIndex=1)
        self.ec2.modify_network_interface_attribute(NetworkInterfaceId=eni, Groups=[self.sg])
        self.instances[eni] = inst


@pytest.fixture
def agent_port(tmp_path: Path) -> Iterator[Path]:
    """A hand-off socket whose agent answers HEALTH with OK, standing in for the agent."""
    path = tmp_path / "agent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    path.chmod(0o600)
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                if conn.recv(100).strip() == b"HEALTH":
                    conn.sendall(b"OK ok; last reconcile 1.0s ago\n")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield path
    stop.set()
    t.join(timeout=2)
    server.close()


@pytest.fixture
def imds(world: World) -> Iterator[FakeImds]:
    f = FakeImds(REGION, {LO_MAC: {"interface-id": world.eni_b}}).start()
    yield f
    f.stop()


def make_node(
    world: World,
    tmp: Path,
    sock: Path,
    enis: list[str] | None = None,
    vips: list[str] | None = None,
) -> Node:
    enis = enis or [world.eni_a, world.eni_b]
    extra = (
        "[group]\nenis = [" + ", ".join(f'"{e}"' for e in enis) + f']\n[agent]\nsocket = "{sock}"\n'
    )
    return Node(world, world.eni_b, tmp, "b", instances=world.instance_toml(vips=vips), extra=extra)


LINE = re.compile(r"^(PASS|WARN|FAIL)  (\S+)\s+(.*)$", re.M)


def doctor(node: Node, imds: FakeImds, *extra: str) -> tuple[int, list[tuple[str, str, str]], str]:
    r = node.run(
        "doctor", "--expect-agent", *extra, env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}
    )
    return r.code, LINE.findall(r.out), r.out + r.err


def test_correct_setup_is_all_pass(
    world: World, ec2: Any, tmp_path: Path, imds: FakeImds, agent_port: Path
) -> None:
    Setup(world, ec2)
    code, lines, out = doctor(make_node(world, tmp_path, agent_port), imds)
    assert code == 0, out
    assert {status for status, _c, _m in lines} == {"PASS"}, out
    checks = {c for _s, c, _m in lines}
    assert checks == {
        "enis",
        "vip-subnet",
        "source-dest-check",
        "route-tables",
        "vrrp",
        "reservation",
        "ip-room",
        "imds",
        "agent",
    }


def _other_subnet_eni(s: Setup) -> dict[str, Any]:
    return {"enis": [s.world.eni_a, s.world.eni_b, s.world.eni_c]}


def _vip_outside(s: Setup) -> dict[str, Any]:
    return {"vips": [VIP4, s.world.vip6, "10.0.2.50"]}


def _source_dest_on(s: Setup) -> dict[str, Any]:
    s.ec2.modify_network_interface_attribute(
        NetworkInterfaceId=s.world.eni_a, SourceDestCheck={"Value": True}
    )
    return {}


def _route_missing(s: Setup) -> dict[str, Any]:
    s.ec2.delete_route(RouteTableId=s.world.rtb_clients[1], DestinationCidrBlock=ROUTE4)
    return {}


def _table_not_associated(s: Setup) -> dict[str, Any]:
    assoc = s.ec2.describe_route_tables(RouteTableIds=[s.world.rtb_clients[0]])["RouteTables"][0][
        "Associations"
    ][0]["RouteTableAssociationId"]
    s.ec2.disassociate_route_table(AssociationId=assoc)
    return {}


def _no_vrrp_rule(s: Setup) -> dict[str, Any]:
    s.ec2.revoke_security_group_ingress(
        GroupId=s.sg,
        IpPermissions=[{"IpProtocol": "112", "UserIdGroupPairs": [{"GroupId": s.sg}]}],
    )
    return {}


def _no_reservation(s: Setup) -> dict[str, Any]:
    s.ec2.delete_subnet_cidr_reservation(SubnetCidrReservationId=s.reservation)
    return {}


def _eni_full(s: Setup) -> dict[str, Any]:
    # B sits on a t3.micro (2 IPv4 per ENI) and already holds its primary and one secondary.
    s.ec2.detach_network_interface(
        AttachmentId=s.ec2.describe_network_interfaces(NetworkInterfaceIds=[s.world.eni_b])[
            "NetworkInterfaces"
        ][0]["Attachment"]["AttachmentId"]
    )
    s.join(s.world.eni_b, "t3.micro")
    s.ec2.assign_private_ip_addresses(
        NetworkInterfaceId=s.world.eni_b, PrivateIpAddresses=["10.0.1.50"]
    )
    return {}


BROKEN: list[tuple[str, Callable[[Setup], dict[str, Any]], set[str], str]] = [
    ("other-subnet-eni", _other_subnet_eni, {"enis", "vip-subnet"}, "different subnets"),
    ("vip-outside-subnet", _vip_outside, {"vip-subnet"}, "VIP 10.0.2.50 is outside"),
    ("source-dest-check-on", _source_dest_on, {"source-dest-check"}, "--no-source-dest-check"),
    ("route-missing", _route_missing, {"route-tables"}, "has no route for 192.168.50.0/24"),
    ("table-not-associated", _table_not_associated, {"route-tables"}, "not explicitly associated"),
    ("no-vrrp-rule", _no_vrrp_rule, {"vrrp"}, "IpProtocol=112"),
    ("no-cidr-reservation", _no_reservation, {"reservation"}, "create-subnet-cidr-reservation"),
    ("eni-full", _eni_full, {"ip-room"}, "t3.micro allows 2"),
]


@pytest.mark.parametrize(
    ("breaker", "failing", "text"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_each_broken_setup_fails_on_its_line(
    world: World,
    ec2: Any,
    tmp_path: Path,
    imds: FakeImds,
    agent_port: Path,
    breaker: Callable[[Setup], dict[str, Any]],
    failing: set[str],
    text: str,
) -> None:
    kwargs = breaker(Setup(world, ec2))
    code, lines, out = doctor(make_node(world, tmp_path, agent_port, **kwargs), imds)
    assert code == 1, out
    assert {c for s, c, _m in lines if s == "FAIL"} == failing, out
    assert text in out


def test_agent_not_answering_fails(world: World, ec2: Any, tmp_path: Path, imds: FakeImds) -> None:
    Setup(world, ec2)
    # no agent on the socket
    code, lines, out = doctor(make_node(world, tmp_path, tmp_path / "none.sock"), imds)
    assert code == 1
    assert {c for s, c, _m in lines if s == "FAIL"} == {"agent"}, out


def test_unreachable_metadata_fails_when_the_config_needs_it(world: World, tmp_path: Path) -> None:
    node = Node(world, world.eni_b, tmp_path, "b")
    node.config.write_text(node.config.read_text().replace(f'eni_id = "{world.eni_b}"', ""))
    r = node.run("doctor", env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9/"})
    assert r.code == 1
    assert LINE.findall(r.out)[0][:2] == ("FAIL", "imds")
    assert "hop-limit 2" in r.out


def test_hop_limit_exceeded_metadata_warns_when_not_needed(
    world: World, ec2: Any, tmp_path: Path, agent_port: Path
) -> None:
    Setup(world, ec2)
    f = FakeImds(REGION, {}, hop_limit_exceeded=True).start()
    try:
        code, lines, out = doctor(make_node(world, tmp_path, agent_port), f)
    finally:
        f.stop()
    assert code == 0, out
    assert ("WARN", "imds") in {(s, c) for s, c, _m in lines}


# --- issue 10, item 21: doctor runs with the policy iam-policy generates --------------------------


def _policy_for(node: Node) -> dict[str, Any]:
    import json

    r = node.run("iam-policy", "--account", "123456789012")
    assert r.code == 0, r.err
    doc: dict[str, Any] = json.loads(r.out)
    return doc


def test_doctor_runs_with_the_generated_policy(
    world: World, ec2: Any, tmp_path: Path, imds: FakeImds, agent_port: Path
) -> None:
    import json

    from helpers.iam import role_env

    Setup(world, ec2)
    node = make_node(world, tmp_path, agent_port)
    env = role_env(world.endpoint_url, json.dumps(_policy_for(node)))
    r = node.run(
        "doctor", "--expect-agent", env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, **env}
    )
    lines = LINE.findall(r.out)
    assert r.code == 0, r.out + r.err
    assert {s for s, _c, _m in lines} == {"PASS"}, r.out


@pytest.mark.parametrize(
    ("action", "check"),
    [
        ("ec2:DescribeSecurityGroups", "vrrp"),
        ("ec2:GetSubnetCidrReservations", "reservation"),
        ("ec2:DescribeInstances", "ip-room"),
    ],
)
def test_a_denied_probe_fails_only_its_own_check(
    world: World,
    ec2: Any,
    tmp_path: Path,
    imds: FakeImds,
    agent_port: Path,
    action: str,
    check: str,
) -> None:
    import json

    from helpers.iam import role_env

    Setup(world, ec2)
    node = make_node(world, tmp_path, agent_port)
    policy = _policy_for(node)
    for st in policy["Statement"]:
        st["Action"] = [a for a in st["Action"] if a != action]
    env = role_env(world.endpoint_url, json.dumps(policy))
    r = node.run(
        "doctor", "--expect-agent", env={"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url, **env}
    )
    lines = LINE.findall(r.out)
    assert r.code == 1, r.out + r.err
    failed = {c for s, c, _m in lines if s == "FAIL"}
    assert failed == {check}, r.out
    assert "UnauthorizedOperation" in r.out and action in r.out
    assert len({c for _s, c, _m in lines}) == 9  # every other check still ran


def two_nic_setup(world: World, ec2: Any, tmp: Path, sock: Path, alloc: str | None = None) -> Node:
    """Setup's pair, each node with a second (public) ENI on the same instance; the public
    instance moves a VIP and its Elastic IP."""
    from awsfailover.sim.world import PUBLIC_VIP, add_public_side

    s = Setup(world, ec2)
    pub = add_public_side(world)
    for private, public in ((world.eni_a, pub.eni_a), (world.eni_b, pub.eni_b)):
        ec2.attach_network_interface(
            NetworkInterfaceId=public, InstanceId=s.instances[private], DeviceIndex=2
        )
        ec2.modify_network_interface_attribute(NetworkInterfaceId=public, Groups=[s.sg])
        ec2.modify_network_interface_attribute(
            NetworkInterfaceId=public, SourceDestCheck={"Value": False}
        )
    ec2.create_subnet_cidr_reservation(
        SubnetId=pub.subnet, Cidr=f"{PUBLIC_VIP}/32", ReservationType="explicit"
    )
    enis = [world.eni_a, world.eni_b, pub.eni_a, pub.eni_b]
    extra = (
        "[group]\nenis = [" + ", ".join(f'"{e}"' for e in enis) + f']\n[agent]\nsocket = "{sock}"\n'
    )
    inst = world.instance_toml() + pub.instance_toml("PUB", eni=pub.eni_b).replace(
        pub.allocation_id, alloc or pub.allocation_id
    )
    return Node(world, world.eni_b, tmp, "b", instances=inst, extra=extra)


def test_two_nic_node_with_an_eip_is_all_pass(
    world: World, ec2: Any, tmp_path: Path, imds: FakeImds, agent_port: Path
) -> None:
    code, lines, out = doctor(two_nic_setup(world, ec2, tmp_path, agent_port), imds)
    assert code == 0, out
    assert {status for status, _c, _m in lines} == {"PASS"}, out
    eip = [m for _s, c, m in lines if c == "eip"]
    assert len(eip) == 1 and "maps to" in eip[0] and "10.0.4.100" in eip[0], out


def test_missing_eip_fails_only_its_line(
    world: World, ec2: Any, tmp_path: Path, imds: FakeImds, agent_port: Path
) -> None:
    node = two_nic_setup(world, ec2, tmp_path, agent_port, alloc="eipalloc-0123456789abcdef0")
    code, lines, out = doctor(node, imds)
    assert code == 1, out
    assert {c for s, c, _m in lines if s == "FAIL"} == {"eip"}, out
    assert "eipalloc-0123456789abcdef0 does not exist" in out


# --- issue 17: what IAM cannot narrow, and a route whose target is gone -------------------------


def test_a_table_holding_routes_the_group_does_not_own_warns(
    world: World, ec2: Any, tmp_path: Path, imds: FakeImds, agent_port: Path
) -> None:
    Setup(world, ec2)
    rtb = world.rtb_clients[0]
    ec2.create_route(
        RouteTableId=rtb, DestinationCidrBlock="10.99.0.0/16", NetworkInterfaceId=world.eni_c
    )
    code, lines, out = doctor(make_node(world, tmp_path, agent_port), imds)
    assert code == 0, out  # a warning, not a failure
    warns = [m for s, c, m in lines if (s, c) == ("WARN", "route-tables")]
    assert len(warns) == 1, out
    assert rtb in warns[0] and "10.99.0.0/16" in warns[0] and "does not own" in warns[0]
    assert "dedicated route tables" in out


def test_a_blackhole_route_warns_in_doctor_and_shows_in_status(
    world: World, ec2: Any, tmp_path: Path, imds: FakeImds, agent_port: Path
) -> None:
    import json

    Setup(world, ec2)
    rtb = world.rtb_clients[0]
    spare = ec2.create_network_interface(SubnetId=world.app_subnet)["NetworkInterface"][
        "NetworkInterfaceId"
    ]
    ec2.replace_route(RouteTableId=rtb, DestinationCidrBlock=ROUTE4, NetworkInterfaceId=spare)
    ec2.delete_network_interface(NetworkInterfaceId=spare)
    node = make_node(world, tmp_path, agent_port)
    code, lines, out = doctor(node, imds)
    warns = [m for s, c, m in lines if (s, c) == ("WARN", "route-tables")]
    assert any(ROUTE4 in m and "blackhole" in m for m in warns), out
    r = node.run("status")
    assert r.code == 3, r.out + r.err
    assert f"blackhole({spare})" in r.out, r.out
    doc = json.loads(node.run("status", "--json").out)
    assert doc["instances"][0]["routes"][rtb][ROUTE4] == f"blackhole({spare})"


def test_auto_routes_are_judged_by_target_not_as_a_list(
    world: World, ec2: Any, tmp_path: Path, imds: FakeImds, agent_port: Path
) -> None:
    """routes = "auto" was judged as the list ["a", "u", "t", "o"]: every table 'lacked' them."""
    Setup(world, ec2)
    enis = ", ".join(f'"{e}"' for e in (world.eni_a, world.eni_b, world.eni_c))
    inst = (
        f'[[instances]]\nname = "VI_1"\nvips = ["{VIP4}"]\nroutes = "auto"\n'
        f'route_tables = ["{world.rtb_clients[0]}"]\n'
    )
    extra = f'[group]\nenis = [{enis}]\n[agent]\nsocket = "{agent_port}"\n'
    node = Node(world, world.eni_b, tmp_path, "b", instances=inst, extra=extra)
    code, lines, out = doctor(node, imds)
    assert ("PASS", "route-tables") in {(s, c) for s, c, _m in lines}, out
    assert not [m for s, c, m in lines if s == "FAIL" and c == "route-tables"], out


def test_event_targets_that_exist_pass_and_a_missing_one_fails(
    world: World, ec2: Any, tmp_path: Path, imds: FakeImds, agent_port: Path
) -> None:
    """Issue 20: doctor checks that the [events] topic and bus exist (through the local
    endpoint: AWS_ENDPOINT_URL_SNS, AWS_ENDPOINT_URL_EVENTBRIDGE)."""
    import boto3

    Setup(world, ec2)
    kw = {"endpoint_url": world.endpoint_url, "region_name": REGION}
    topic = boto3.client("sns", **kw).create_topic(Name="awsfailover-events")["TopicArn"]
    boto3.client("events", **kw).create_event_bus(Name="ops")
    node = make_node(world, tmp_path, agent_port)
    base = node.config.read_text()
    env = {
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url,
        "AWS_ENDPOINT_URL_SNS": world.endpoint_url,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": world.endpoint_url,
    }
    missing_topic = topic.rsplit(":", 1)[0] + ":no-such-topic"
    for sns_arn, bus, failing in (
        (topic, "ops", set()),
        (missing_topic, "ops", {"sns"}),
        (topic, "no-such-bus", {"eventbridge"}),
    ):
        node.config.write_text(
            base + f'\n[events]\nsns_topic_arn = "{sns_arn}"\neventbridge_bus = "{bus}"\n'
        )
        r = node.run("doctor", "--expect-agent", env=env)
        lines = [x for x in LINE.findall(r.out) if x[1] == "events"]
        assert len(lines) == 2, r.out + r.err
        failed = {m.split(":", 1)[0] for s, _c, m in lines if s == "FAIL"}
        assert failed == failing, r.out
        assert r.code == (1 if failing else 0), r.out
        for s, _c, m in lines:
            if s == "FAIL":
                assert "does not exist" in m, m


def test_the_arbiter_table_is_checked_for_its_key(
    world: World, ec2: Any, tmp_path: Path, imds: FakeImds, agent_port: Path
) -> None:
    """Issue 21: doctor checks that the [arbiter] table exists, is ACTIVE and has the key the
    leases need (dynamodb:DescribeTable, through AWS_ENDPOINT_URL_DYNAMODB)."""
    import boto3

    from awsfailover.sim.world import create_lease_table

    Setup(world, ec2)
    create_lease_table(world.endpoint_url)
    boto3.client("dynamodb", endpoint_url=world.endpoint_url, region_name=REGION).create_table(
        TableName="wrong-key",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    node = make_node(world, tmp_path, agent_port)
    base = node.config.read_text()
    env = {
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url,
        "AWS_ENDPOINT_URL_DYNAMODB": world.endpoint_url,
    }
    for table, message in (
        ("awsfailover-leases", None),
        ("no-such-table", "does not exist"),
        ("wrong-key", 'the arbiter needs the partition key "lease_id"'),
    ):
        text = base.replace("[group]\n", '[group]\nname = "edge"\n', 1)
        node.config.write_text(text + f'\n[arbiter]\ntable = "{table}"\n')
        r = node.run("doctor", "--expect-agent", env=env)
        lines = [x for x in LINE.findall(r.out) if x[1] == "arbiter"]
        assert len(lines) == 1, r.out + r.err
        status, _check, text = lines[0]
        if message is None:
            assert status == "PASS" and r.code == 0, r.out
        else:
            assert status == "FAIL" and message in text and r.code == 1, r.out
