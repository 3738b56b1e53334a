"""doctor's checks of each node: VRRP between the peers, subnet reservations, room for the
VIPs on each ENI, instance metadata and the agent. Pure: each judges Facts."""

from __future__ import annotations

import ipaddress
from dataclasses import astuple
from typing import Any

from awsfailover.config.schema import Settings
from awsfailover.doctor.checks import all_vips, in_subnet, same_subnet_enis
from awsfailover.doctor.facts import FAIL, IMDS_FIX, PASS, WARN, Facts, Line

__all__ = ["check_agent", "check_imds", "check_ip_room", "check_reservations", "check_vrrp_rules"]


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
                if not in_subnet(vip, f.subnets[s]):
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
    if not all_vips(settings):
        return []
    out = []
    for eni, raw in sorted(f.enis.items()):
        # the VIPs that may land on this ENI: those of instances moving within its subnet
        mine = [i for i in settings.instances if eni in same_subnet_enis(i, f)]
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
            IMDS_FIX,
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
        return [Line(PASS, "agent", f"healthy, answering on {settings.agent.socket}")]
    return [
        Line(
            FAIL,
            "agent",
            f"agent not healthy: {f.agent_health}",
            "systemctl status awsfailover-agent; journalctl -u awsfailover-agent",
        )
    ]


def check_events(settings: Settings, f: Facts) -> list[Line]:
    """The agent's SNS topic and EventBridge bus exist (and this role may read them)."""
    ev = settings.events
    names = {"sns": ev.sns_topic_arn, "eventbridge": ev.eventbridge_bus}
    lines = []
    for sink, problem in sorted(f.event_targets.items()):
        if problem is None:
            lines.append(Line(PASS, "events", f"{sink} target {names[sink]} exists"))
        else:
            key = "sns_topic_arn" if sink == "sns" else "eventbridge_bus"
            lines.append(
                Line(
                    FAIL,
                    "events",
                    f"{sink}: {problem}; events to it are lost",
                    f"create it, or fix [events] {key}; `awsfailover iam-policy` grants the read",
                )
            )
    return lines


def check_arbiter(settings: Settings, f: Facts) -> list[Line]:
    """The arbiter's table exists with the key the leases need (and this role may read it)."""
    if settings.arbiter is None or f.arbiter_table is None:
        return []
    table = settings.arbiter.table
    if not f.arbiter_table:
        return [Line(PASS, "arbiter", f"lease table {table}: partition key lease_id (string)")]
    fix = (
        "create it with the Terraform module (create_lease_table = true), or fix [arbiter] "
        "table; `awsfailover iam-policy` grants dynamodb:DescribeTable"
    )
    # "act" would fail over as if there were no arbiter, "hold" would move nothing at all
    return [Line(FAIL, "arbiter", p, fix) for p in f.arbiter_table]
