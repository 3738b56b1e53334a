"""doctor: the whole-setup preflight. Gather the facts (Describe calls only), then judge them
with pure functions, one per check; each line is PASS, WARN or FAIL with the fix."""

from __future__ import annotations

import ipaddress
import os
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from typing import Any, TextIO, TypeVar

from awsfailover.aws.actions import probe_actions
from awsfailover.aws.clients import make_ec2_client
from awsfailover.aws.ec2 import Ec2
from awsfailover.aws.node import NodeFacts, resolve_node
from awsfailover.config.schema import InstanceSettings, Settings
from awsfailover.core.deadline import Deadline
from awsfailover.core.model import AddressLimit, EipState, RouteTable
from awsfailover.core.plan import resolve_private_ip
from awsfailover.core.spec import EipSpec
from awsfailover.core.tables import select_tables
from awsfailover.errors import AwsError, AwsFailoverError, ConfigError, MetadataError

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
T = TypeVar("T")


@dataclass(frozen=True)
class Line:
    status: str
    check: str
    message: str
    fix: str = ""


@dataclass
class Facts:
    """Everything the checks judge, as EC2 returned it."""

    own_eni: str
    enis: dict[str, Any]  # ENI id -> DescribeNetworkInterfaces entry
    subnets: dict[str, Any]  # subnet id -> DescribeSubnets entry
    tables: dict[str, dict[str, RouteTable]]  # instance -> selected tables
    table_errors: dict[str, str]  # instance -> why its tables could not be selected
    security_groups: dict[str, Any]  # group id -> DescribeSecurityGroups entry
    reservations: dict[str, list[str]]  # subnet id -> explicit reservation CIDRs
    ip_limits: dict[str, AddressLimit]  # ENI -> what its instance type allows per ENI
    imds: str | None  # None when reachable, else the error
    imds_needed: bool
    agent_health: str | None  # None when healthy, "" when not expected, else the error
    missing_enis: list[str] = field(default_factory=list)
    instance_enis: dict[str, str] = field(default_factory=dict)  # instance -> its ENI here
    addresses: dict[str, EipState] = field(default_factory=dict)  # allocation id -> its state
    # probe -> why it could not look (a denied action): fails the checks that need it only
    failed_probes: dict[str, str] = field(default_factory=dict)


# --- checks (pure) ---------------------------------------------------------------------------


def _all_vips(settings: Settings) -> list[str]:
    return [v for i in settings.instances for v in i.vips]


def _own(inst: InstanceSettings, f: Facts) -> str:
    return f.instance_enis.get(inst.name, f.own_eni)


def check_enis_share_subnet(settings: Settings, f: Facts) -> list[Line]:
    """A VIP moves within one subnet only: each instance's VIPs need at least two group ENIs
    in the subnet of the instance's ENI here (on a multi-NIC node, per instance)."""
    name = "enis"
    out = [
        Line(FAIL, name, f"group ENI {e} does not exist", "fix group.enis in the config")
        for e in f.missing_enis
    ]
    if not settings.group.enis:
        out.append(
            Line(
                WARN,
                name,
                "group.enis is not set: only this node's ENI is checked",
                "list every member's ENI in group.enis",
            )
        )
    if not _all_vips(settings):
        subnets = sorted({e["SubnetId"] for e in f.enis.values()})
        out.append(Line(PASS, name, f"routes only; ENIs in {', '.join(subnets)}"))
        return out
    stray = _stray(settings, f)
    if stray:
        by = ", ".join(f"{e} in {f.enis[e]['SubnetId']}" for e in stray)
        out.append(
            Line(
                FAIL,
                name,
                f"the group's ENIs are in different subnets ({by}) and every instance has VIPs; "
                "a VIP (secondary IP) moves within one subnet only",
                "put every member's ENI in one subnet, or fail over across AZs with routes "
                "and Elastic IPs only (no vips)",
            )
        )
    for inst in settings.instances:
        own = _own(inst, f)
        if not inst.vips or own not in f.enis:
            continue
        subnet = f.enis[own]["SubnetId"]
        peers = sorted(e for e, raw in f.enis.items() if raw["SubnetId"] == subnet)
        if len(peers) < 2 and settings.group.enis:
            out.append(
                Line(
                    FAIL,
                    name,
                    f"{inst.name}: no other group ENI is in subnet {subnet} of {own}; a VIP "
                    "(secondary IP) moves within one subnet only",
                    "put a member's ENI in that subnet (group.enis), or fail over across AZs "
                    "with routes and Elastic IPs only (no vips)",
                )
            )
        else:
            out.append(Line(PASS, name, f"{inst.name}: {', '.join(peers)} share subnet {subnet}"))
    return out


def _in_subnet(vip: str, subnet: Any) -> bool:
    addr = ipaddress.ip_address(vip)
    if addr.version == 4:
        return addr in ipaddress.ip_network(subnet["CidrBlock"])
    return any(
        addr in ipaddress.ip_network(a["Ipv6CidrBlock"])
        for a in subnet.get("Ipv6CidrBlockAssociationSet", [])
    )


def _stray(settings: Settings, f: Facts) -> list[str]:
    """Group ENIs in a subnet none of this node's instance ENIs is in. Only a routes-only or
    Elastic-IP-only instance (a pair across AZs) can use them; with VIPs everywhere they are
    a member that could never take the VIPs."""
    if any(not i.vips for i in settings.instances):
        return []
    mine = {f.enis[_own(i, f)]["SubnetId"] for i in settings.instances if _own(i, f) in f.enis}
    return sorted(e for e, raw in f.enis.items() if raw["SubnetId"] not in mine)


def _same_subnet_enis(inst: InstanceSettings, f: Facts) -> list[str]:
    own = _own(inst, f)
    if own not in f.enis:
        return []
    subnet = f.enis[own]["SubnetId"]
    return sorted(e for e, raw in f.enis.items() if raw["SubnetId"] == subnet)


def check_vips_in_subnet(settings: Settings, f: Facts) -> list[Line]:
    out = []
    for inst in settings.instances:
        for vip in inst.vips:
            outside = [
                f"{eni} ({f.enis[eni]['SubnetId']})"
                for eni in sorted({*_same_subnet_enis(inst, f), *_stray(settings, f)})
                if not _in_subnet(vip, f.subnets[f.enis[eni]["SubnetId"]])
            ]
            if outside:
                out.append(
                    Line(
                        FAIL,
                        "vip-subnet",
                        f"VIP {vip} is outside the subnet of {', '.join(outside)}",
                        "choose a VIP inside the members' subnet CIDR",
                    )
                )
            else:
                out.append(
                    Line(PASS, "vip-subnet", f"VIP {vip} lies in the subnet of {_own(inst, f)}")
                )
    return out


def check_eips(settings: Settings, f: Facts) -> list[Line]:
    """Each Elastic IP exists and maps, on this node, to an address its instance's ENI holds
    or will hold (a VIP of the instance, or an address of the ENI in this node's AZ)."""
    out = []
    for inst in settings.instances:
        own = _own(inst, f)
        for eip in inst.eips:
            alloc = eip.allocation_id
            state = f.addresses.get(alloc)
            if state is None:
                out.append(
                    Line(
                        FAIL,
                        "eip",
                        f"{inst.name}: Elastic IP {alloc} does not exist in this Region",
                        "allocate it (terraform: aws_eip) or fix instances.eips",
                    )
                )
                continue
            eni_raw = f.enis.get(own) or {}
            subnet = f.subnets.get(eni_raw.get("SubnetId", ""), {})
            try:
                want = resolve_private_ip(
                    inst.spec,
                    EipSpec(eip.allocation_id, eip.private_ip),
                    subnet.get("AvailabilityZone", ""),
                    eni_raw.get("PrivateIpAddress", ""),
                )
            except ConfigError as exc:
                fix = f"add this node's AZ to instances.{inst.name}.eips.private_ip"
                out.append(Line(FAIL, "eip", str(exc), fix))
                continue
            held = {a["PrivateIpAddress"] for a in eni_raw.get("PrivateIpAddresses", [])}
            if want not in held and want not in inst.ipv4_vips:
                out.append(
                    Line(
                        FAIL,
                        "eip",
                        f"{inst.name}: {alloc} would map to {want}, neither a VIP of the "
                        f"instance nor an address of {own}",
                        f"set instances.{inst.name}.eips.private_ip to an address of {own}",
                    )
                )
                continue
            where = (
                f"now on {state.eni_id} {state.private_ip}" if state.eni_id else "now unassociated"
            )
            out.append(
                Line(
                    PASS,
                    "eip",
                    f"{inst.name}: {alloc} ({state.public_ip}) maps to {own} {want} on "
                    f"MASTER; {where}",
                )
            )
    return out


def check_source_dest(settings: Settings, f: Facts) -> list[Line]:
    if not any(i.routes for i in settings.instances):
        return []
    out = []
    for eni, raw in sorted(f.enis.items()):
        if raw.get("SourceDestCheck", True):
            out.append(
                Line(
                    FAIL,
                    "source-dest-check",
                    f"{eni} has source/destination check on: it will drop the traffic the "
                    "routes send it",
                    f"aws ec2 modify-network-interface-attribute --network-interface-id {eni} "
                    "--no-source-dest-check",
                )
            )
        else:
            out.append(Line(PASS, "source-dest-check", f"{eni} has source/destination check off"))
    return out


def check_route_tables(settings: Settings, f: Facts) -> list[Line]:
    out = []
    for inst in settings.instances:
        if not inst.routes:
            continue
        if inst.name in f.table_errors:
            out.append(Line(FAIL, "route-tables", f.table_errors[inst.name], _table_fix(inst)))
            continue
        for tid, table in sorted(f.tables.get(inst.name, {}).items()):
            if not table.explicit_subnets:
                out.append(
                    Line(
                        FAIL,
                        "route-tables",
                        f"{inst.name}: {tid} is not explicitly associated with any subnet, "
                        "so no traffic follows its routes",
                        f"aws ec2 associate-route-table --route-table-id {tid} --subnet-id SUBNET",
                    )
                )
                continue
            missing = [d for d in inst.routes if d not in table.routes]
            if missing:
                out.append(
                    Line(
                        FAIL,
                        "route-tables",
                        f"{inst.name}: {tid} has no route for {', '.join(missing)} "
                        "(ReplaceRoute only replaces existing routes)",
                        f"aws ec2 create-route --route-table-id {tid} "
                        f"--destination-cidr-block {missing[0]} "
                        f"--network-interface-id {f.own_eni}",
                    )
                )
                continue
            out.append(
                Line(
                    PASS,
                    "route-tables",
                    f"{inst.name}: {tid} (associated with "
                    f"{', '.join(table.explicit_subnets)}) holds all {len(inst.routes)} routes",
                )
            )
    return out


def _table_fix(inst: InstanceSettings) -> str:
    if inst.route_tables is not None:
        return f"fix instances.{inst.name}.route_tables"
    return "associate a route table explicitly with the subnet (aws ec2 associate-route-table)"


def _rule_allows_vrrp(rule: Any, peer: Any) -> bool:
    if str(rule.get("IpProtocol")) not in ("112", "-1"):
        return False
    peer_groups = {g["GroupId"] for g in peer.get("Groups", [])}
    if any(p.get("GroupId") in peer_groups for p in rule.get("UserIdGroupPairs", [])):
        return True
    addr = ipaddress.ip_address(peer["PrivateIpAddress"])
    return any(addr in ipaddress.ip_network(r["CidrIp"]) for r in rule.get("IpRanges", []))


def check_vrrp_rules(settings: Settings, f: Facts) -> list[Line]:
    if len(f.enis) < 2:
        return [
            Line(
                WARN,
                "vrrp",
                "fewer than two group ENIs known: VRRP rules not checked",
                "list every member's ENI in group.enis",
            )
        ]
    out = []
    for dst_id, dst in sorted(f.enis.items()):
        groups = [g["GroupId"] for g in dst.get("Groups", [])]
        rules = [r for g in groups for r in f.security_groups[g].get("IpPermissions", [])]
        for src_id, src in sorted(f.enis.items()):
            if src_id == dst_id:
                continue
            if any(_rule_allows_vrrp(r, src) for r in rules):
                out.append(
                    Line(PASS, "vrrp", f"{dst_id} accepts VRRP (IP protocol 112) from {src_id}")
                )
                continue
            src_group = next((g["GroupId"] for g in src.get("Groups", [])), "SG_OF_PEER")
            out.append(
                Line(
                    FAIL,
                    "vrrp",
                    f"the security groups of {dst_id} ({', '.join(groups)}) do not allow IP "
                    f"protocol 112 from {src_id}: unicast VRRP cannot reach it, both become MASTER",
                    "aws ec2 authorize-security-group-ingress --group-id "
                    f"{groups[0] if groups else 'SG'} "
                    f"--ip-permissions 'IpProtocol=112,UserIdGroupPairs=[{{GroupId={src_group}}}]'",
                )
            )
    return out


def check_reservations(settings: Settings, f: Facts) -> list[Line]:
    out = []
    subnets = sorted({e["SubnetId"] for e in f.enis.values()})
    for inst in settings.instances:
        for vip in inst.ipv4_vips:
            addr = ipaddress.ip_address(vip)
            for s in subnets:
                if not _in_subnet(vip, f.subnets[s]):
                    continue  # reported by vip-subnet
                if any(addr in ipaddress.ip_network(c) for c in f.reservations.get(s, [])):
                    out.append(
                        Line(
                            PASS,
                            "reservation",
                            f"VIP {vip} is in an explicit CIDR reservation of {s}",
                        )
                    )
                else:
                    out.append(
                        Line(
                            FAIL,
                            "reservation",
                            f"VIP {vip} is in no explicit CIDR reservation of {s}: AWS may "
                            "hand it to a new instance or ENI",
                            f"aws ec2 create-subnet-cidr-reservation --subnet-id {s} "
                            f"--cidr {vip}/32 --reservation-type explicit",
                        )
                    )
    return out


def check_ip_room(settings: Settings, f: Facts) -> list[Line]:
    if not _all_vips(settings):
        return []
    out = []
    for eni, raw in sorted(f.enis.items()):
        # the VIPs that may land on this ENI: those of instances moving within its subnet
        mine = [i for i in settings.instances if eni in _same_subnet_enis(i, f)]
        vips4 = {v for i in mine for v in i.ipv4_vips}
        vips6 = {v for i in mine for v in i.ipv6_vips}
        if not vips4 and not vips6:
            continue
        if eni not in f.ip_limits:
            out.append(
                Line(
                    WARN,
                    "ip-room",
                    f"{eni} is not attached to an instance: its address limit is unknown",
                    "attach the ENI to its appliance instance",
                )
            )
            continue
        itype, lim4, lim6 = astuple(f.ip_limits[eni])
        have4 = {a["PrivateIpAddress"] for a in raw.get("PrivateIpAddresses", [])}
        have6 = {str(ipaddress.ip_address(a["Ipv6Address"])) for a in raw.get("Ipv6Addresses", [])}
        need4, need6 = len(have4 | vips4), len(have6 | vips6)
        if need4 > lim4 or need6 > lim6:
            out.append(
                Line(
                    FAIL,
                    "ip-room",
                    f"{eni} ({itype}) would need {need4} IPv4 / {need6} IPv6 addresses to take "
                    f"every VIP; {itype} allows {lim4} / {lim6} per ENI",
                    "free secondary addresses on the ENI or use a larger instance type",
                )
            )
        else:
            out.append(
                Line(
                    PASS,
                    "ip-room",
                    f"{eni} ({itype}) has room for every VIP "
                    f"({need4}/{lim4} IPv4, {need6}/{lim6} IPv6)",
                )
            )
    return out


_IMDS_FIX = (
    "aws ec2 modify-instance-metadata-options --instance-id ID --http-tokens required "
    "--http-put-response-hop-limit 2 (2 when the hook runs in a container); or set region "
    "and node.eni_id in the config"
)


def check_imds(settings: Settings, f: Facts) -> list[Line]:
    if f.imds is None:
        return [Line(PASS, "imds", "IMDSv2 answers (token and metadata)")]
    status = FAIL if f.imds_needed else WARN
    why = "" if f.imds_needed else " (not needed: node.eni_id and region are configured)"
    return [
        Line(
            status,
            "imds",
            f"IMDSv2 unreachable: {f.imds}{why}",
            _IMDS_FIX,
        )
    ]


def check_agent(settings: Settings, f: Facts) -> list[Line]:
    if f.agent_health == "":
        return [
            Line(
                PASS,
                "agent",
                "not expected to run (no agent socket; --expect-agent checks it)",
            )
        ]
    if f.agent_health is None:
        return [Line(PASS, "agent", f"/healthz on {settings.agent.metrics_address} answers 200")]
    return [
        Line(
            FAIL,
            "agent",
            f"agent health on {settings.agent.metrics_address or '(disabled)'}: {f.agent_health}",
            "systemctl status awsfailover-agent; journalctl -u awsfailover-agent",
        )
    ]


# (check, the probes it judges): a probe that failed fails its checks, and only those.
CHECKS: list[tuple[str, Callable[[Settings, Facts], list[Line]], tuple[str, ...]]] = [
    ("enis", check_enis_share_subnet, ()),
    ("vip-subnet", check_vips_in_subnet, ("subnets",)),
    ("source-dest-check", check_source_dest, ()),
    ("route-tables", check_route_tables, ("route_tables",)),
    ("vrrp", check_vrrp_rules, ("security_groups",)),
    ("reservation", check_reservations, ("subnets", "reservations")),
    ("ip-room", check_ip_room, ("instances",)),
    ("eip", check_eips, ("subnets", "addresses")),
    ("imds", check_imds, ()),
    ("agent", check_agent, ()),
]
# What each probe calls: the fix for a denied probe is the statement iam-policy prints.
PROBE_ACTIONS = probe_actions()


def judge(settings: Settings, f: Facts) -> list[Line]:
    lines = []
    for name, check, probes in CHECKS:
        failed = [p for p in probes if p in f.failed_probes]
        if failed:
            lines += [
                Line(
                    FAIL,
                    name,
                    f"cannot look: {f.failed_probes[p]}",
                    f"allow {PROBE_ACTIONS[p]} (`awsfailover iam-policy` includes it)",
                )
                for p in failed
            ]
            continue
        lines += check(settings, f)
    return lines


# --- facts (Describe calls only) --------------------------------------------------------------


def _imds_probe(timeout: float = 1.0) -> str | None:
    from awsfailover.aws.imds import Imds

    try:
        imds = Imds(timeout=timeout)
        imds.token()
        imds.region()
    except AwsFailoverError as exc:
        return str(exc)
    return None


def _agent_probe(settings: Settings, expect: bool) -> str | None:
    # An agent that ran leaves its socket; a hook-only node has none.
    if not expect and not settings.agent.socket.exists():
        return ""
    addr = settings.agent.metrics_address
    if not addr:
        return "agent.metrics_address is empty, so there is nothing to ask"
    host, port = addr.rsplit(":", 1)
    url = f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return None if resp.status == 200 else f"HTTP {resp.status}"
    except OSError as exc:
        return f"{url}: {exc}"


def gather(
    settings: Settings,
    ec2: Ec2,
    own_eni: str,
    expect_agent: bool,
    imds_needed: bool,
    *,
    resolved: dict[str, str] | None = None,
) -> Facts:
    deadline = Deadline(60.0)
    instance_enis = {
        i.name: i.eni_id for i in settings.instances if i.eni_id
    }  # interface-named ENIs are resolved by run()
    instance_enis.update(resolved or {})
    ids = sorted({*settings.group.enis, own_eni, *instance_enis.values()})
    found: dict[str, Any] = {}
    missing = []
    for eni in ids:  # one by one: a missing ENI must not hide the others
        entry = ec2.eni_entry(eni, deadline)
        if entry is None:
            missing.append(eni)
        else:
            found[eni] = entry
    if own_eni not in found:
        raise ConfigError(f"this node's ENI {own_eni} does not exist")
    failed: dict[str, str] = {}

    def probe(name: str, default: dict[str, T], fn: Callable[[], dict[str, T]]) -> dict[str, T]:
        """One probe's facts, or its default with the reason recorded: a denied Describe
        fails the checks that need it, not the whole doctor."""
        try:
            return fn()
        except AwsError as err:
            failed[name] = str(err)
            return default

    subnet_ids = sorted({e["SubnetId"] for e in found.values()})
    subnets = probe("subnets", {}, lambda: ec2.subnet_entries(subnet_ids, deadline))
    own_subnet = found[own_eni]["SubnetId"]
    tables: dict[str, dict[str, RouteTable]] = {}
    table_errors: dict[str, str] = {}
    for inst in settings.specs:
        if not inst.routes:
            continue
        try:
            if inst.route_tables is not None:
                listing = ec2.describe_route_tables(deadline, table_ids=list(inst.route_tables))
            else:
                listing = ec2.describe_route_tables(
                    deadline, subnet_ids=list(inst.subnet_ids or [own_subnet])
                )
            tables[inst.name] = select_tables(inst, listing, own_subnet)
        except ConfigError as err:
            table_errors[inst.name] = f"{inst.name}: {err}"
        except AwsError as err:
            failed["route_tables"] = str(err)
    group_ids = sorted({g["GroupId"] for e in found.values() for g in e.get("Groups", [])})
    sgs: dict[str, Any] = {}
    if group_ids:
        sgs = probe("security_groups", {}, lambda: ec2.security_group_entries(group_ids, deadline))
    reservations = probe(
        "reservations",
        {},
        lambda: {s: ec2.explicit_reservations(s, deadline) for s in subnet_ids},
    )
    allocs = sorted({e.allocation_id for i in settings.instances for e in i.eips})
    # by filter: a missing one is left out (its own FAIL line), not the whole probe
    addrs = (
        probe("addresses", {}, lambda: ec2.describe_addresses(allocs, deadline, missing_ok=True))
        if allocs
        else {}
    )
    attached = {
        eni: raw["Attachment"]["InstanceId"]
        for eni, raw in found.items()
        if raw.get("Attachment", {}).get("InstanceId")
    }
    return Facts(
        own_eni=own_eni,
        enis=found,
        subnets=subnets,
        tables=tables,
        table_errors=table_errors,
        security_groups=sgs,
        reservations=reservations,
        ip_limits=probe("instances", {}, lambda: ec2.address_limits(attached, deadline)),
        imds=_imds_probe(),
        imds_needed=imds_needed,
        agent_health=_agent_probe(settings, expect_agent),
        missing_enis=missing,
        failed_probes=failed,
        instance_enis=instance_enis,
        addresses=addrs,
    )


def run(settings: Settings, expect_agent: bool, out: TextIO = sys.stdout) -> int:
    try:
        node = resolve_node(settings)
    except MetadataError as exc:
        # Without this node's ENI and Region nothing else can be looked at.
        _print([Line(FAIL, "imds", f"this node cannot be identified: {exc}", _IMDS_FIX)], out)
        return 1
    imds_needed = settings.node.eni_id is None or (
        settings.region is None
        and not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    )
    client = make_ec2_client(node.region, settings.endpoint_url)
    try:
        resolved = NodeFacts(settings).instance_enis(
            [i for i in settings.specs if i.interface and not i.eni_id]
        )
    except MetadataError as exc:
        _print([Line(FAIL, "imds", f"an instance's interface has no ENI: {exc}", _IMDS_FIX)], out)
        return 1
    try:
        facts = gather(
            settings, Ec2(client), node.eni_id, expect_agent, imds_needed, resolved=resolved
        )
    except AwsError as exc:
        # Without this node's own ENI nothing else can be judged.
        _print(
            [
                Line(
                    FAIL,
                    "enis",
                    f"cannot describe the group's ENIs: {exc}",
                    "allow ec2:DescribeNetworkInterfaces (`awsfailover iam-policy` includes it)",
                )
            ],
            out,
        )
        return 1
    return _print(judge(settings, facts), out)


def _print(lines: list[Line], out: TextIO) -> int:
    width = max(len(line.check) for line in lines)
    for line in lines:
        print(f"{line.status}  {line.check.ljust(width)}  {line.message}", file=out)
        if line.fix and line.status != PASS:
            print(f"      {' ' * width}  fix: {line.fix}", file=out)
    fails = sum(line.status == FAIL for line in lines)
    warns = sum(line.status == WARN for line in lines)
    print(f"{len(lines)} checks: {fails} failed, {warns} warnings", file=out)
    return 1 if fails else 0
