"""doctor's checks of the network: the ENIs, the VIPs' subnet, the Elastic IPs, source/dest
check (the route tables: table_checks). Pure: each judges Facts and returns its lines."""

from __future__ import annotations

import ipaddress
from typing import Any

from awsfailover.config.schema import InstanceSettings, Settings
from awsfailover.core.plan import resolve_private_ip
from awsfailover.core.spec import EipSpec
from awsfailover.doctor.facts import FAIL, PASS, WARN, Facts, Line
from awsfailover.errors import ConfigError

__all__ = [
    "check_eips",
    "check_enis_share_subnet",
    "check_source_dest",
    "check_vips_in_subnet",
]


def all_vips(settings: Settings) -> list[str]:
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
    if not all_vips(settings):
        subnets = sorted({e["SubnetId"] for e in f.enis.values()})
        out.append(Line(PASS, name, f"routes only; ENIs in {', '.join(subnets)}"))
        return out
    stray = stray_enis(settings, f)
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


def in_subnet(vip: str, subnet: Any) -> bool:
    addr = ipaddress.ip_address(vip)
    if addr.version == 4:
        return addr in ipaddress.ip_network(subnet["CidrBlock"])
    return any(
        addr in ipaddress.ip_network(a["Ipv6CidrBlock"])
        for a in subnet.get("Ipv6CidrBlockAssociationSet", [])
    )


def stray_enis(settings: Settings, f: Facts) -> list[str]:
    """Group ENIs in a subnet none of this node's instance ENIs is in. Only a routes-only or
    Elastic-IP-only instance (a pair across AZs) can use them; with VIPs everywhere they are
    a member that could never take the VIPs."""
    if any(not i.vips for i in settings.instances):
        return []
    mine = {f.enis[_own(i, f)]["SubnetId"] for i in settings.instances if _own(i, f) in f.enis}
    return sorted(e for e, raw in f.enis.items() if raw["SubnetId"] not in mine)


def same_subnet_enis(inst: InstanceSettings, f: Facts) -> list[str]:
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
                for eni in sorted({*same_subnet_enis(inst, f), *stray_enis(settings, f)})
                if not in_subnet(vip, f.subnets[f.enis[eni]["SubnetId"]])
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
