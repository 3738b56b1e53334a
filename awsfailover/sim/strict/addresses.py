"""Private IPv4 and IPv6 addresses on ENIs, as strict as EC2: reassignment only within the
subnet, IPv6 with no reassignment flag, the instance type's address limit, asynchronous moves,
and the filters we query holders by."""

from __future__ import annotations

import fnmatch
import ipaddress
from typing import Any

from awsfailover.sim.strict.state import (
    ORIG,
    STATE,
    all_enis,
    eip_private,
    err,
    ipv4_in_subnet,
    ipv6_in_subnet,
    later,
    lock,
    norm6,
    reserved,
    seen,
)


def assign_private_ip_addresses(
    self: Any,
    eni_id: str,
    private_ip_addresses: list[str] | None = None,
    secondary_ips_count: int | None = None,
    allow_reassignment: bool = False,
) -> Any:
    """AWS: all-or-nothing; in-subnet only; a held address moves only with AllowReassignment,
    and then leaves its old holder (moto keeps it on both)."""
    with lock:
        eni = self.get_network_interface(eni_id)
        if not private_ip_addresses:
            return ORIG["assign_private_ip_addresses"](self, eni_id, None, secondary_ips_count)
        moves: list[tuple[str, Any]] = []
        for ip in private_ip_addresses:
            if ipaddress.ip_address(ip).version != 4 or not ipv4_in_subnet(eni, ip):
                raise err(
                    "InvalidParameterValue",
                    f"Address {ip} does not fall within the subnet's address range",
                )
            if reserved(eni, ip):
                raise err(
                    "InvalidParameterValue",
                    f"Address {ip} is in subnet's reserved address range",
                )
            for other in all_enis(self):
                # AWS: a private IPv4 address is unique within its VPC only; two VPCs with the
                # same CIDR (a staging copy) each have their own 10.0.1.100, and reassignment
                # never reaches into the other VPC ("IP addressing for your VPCs and subnets",
                # Amazon VPC User Guide). moto treats the Region as one address space.
                if other is eni or other.subnet.vpc_id != eni.subnet.vpc_id:
                    continue
                held = [a for a in other.private_ip_addresses if a["PrivateIpAddress"] == ip]
                if not held:
                    continue
                if held[0].get("Primary") or other.private_ip_address == ip:
                    raise err(
                        "InvalidParameterValue",
                        f"Address {ip} is the primary private IP of {other.id} and cannot "
                        "be reassigned",
                    )
                if not allow_reassignment:
                    raise err(
                        "InvalidParameterValue",
                        f"Address {ip} is assigned to {other.id}, but move is not allowed",
                    )
                moves.append((ip, other))
        fresh = [
            ip
            for ip in private_ip_addresses
            if ip not in {a["PrivateIpAddress"] for a in eni.private_ip_addresses}
        ]
        _check_room(eni, len(eni.private_ip_addresses) + len(set(fresh)))
        moving = {ip for ip, _ in moves}

        touched = [eni, *(other for _, other in moves)]
        seen(*touched)

        def apply() -> None:
            for ip, other in moves:
                other.private_ip_addresses[:] = [
                    a for a in other.private_ip_addresses if a["PrivateIpAddress"] != ip
                ]
                # AWS: an Elastic IP associated with a reassigned private address moves with
                # it ("Multiple IP addresses", EC2 User Guide); moto leaves it behind.
                for eip in self.addresses:
                    if eip.eni is other and eip_private(eip) == ip:
                        eip.eni = eni
            have = {a["PrivateIpAddress"] for a in eni.private_ip_addresses}
            eni.private_ip_addresses.extend(
                {"Primary": False, "PrivateIpAddress": ip} for ip in fresh if ip not in have
            )
            seen(*touched)

        if moving:
            later(apply)
        else:
            apply()
        return eni


def _check_room(eni: Any, count: int) -> None:
    """AWS: an ENI attached to an instance holds at most the instance type's
    Ipv4AddressesPerInterface (primary included; a t3.micro: 2), and refuses more with
    PrivateIpAddressLimitExceeded ("IP addresses per network interface per instance type",
    EC2 User Guide). moto enforces nothing. A detached ENI has no type and no limit here."""
    inst = getattr(eni, "instance", None)
    if inst is None:
        return
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    info = INSTANCE_TYPES.get(inst.instance_type, {}).get("NetworkInfo", {})
    limit = info.get("Ipv4AddressesPerInterface")
    if limit is not None and count > int(limit):
        raise err(
            "PrivateIpAddressLimitExceeded",
            f"Number of private addresses will exceed limit of {limit} for {eni.id} "
            f"({inst.instance_type})",
        )


def assign_ipv6_addresses(
    self: Any, eni_id: str, ipv6_addresses: list[str] | None = None, ipv6_count: int | None = None
) -> Any:
    """AWS: an IPv6 address has one holder; no reassignment flag exists."""
    with lock:
        eni = self.get_network_interface(eni_id)
        wanted = [str(ipaddress.ip_address(a)) for a in ipv6_addresses or []]
        for ip in wanted:
            if not ipv6_in_subnet(eni, ip):
                raise err(
                    "InvalidParameterValue",
                    f"Address {ip} does not fall within the subnet's address range",
                )
            if reserved(eni, ip):
                raise err(
                    "InvalidParameterValue",
                    f"Address {ip} is in subnet's reserved address range",
                )
            for other in all_enis(self):
                # the same ENI too: AWS refuses to assign an address the ENI already holds
                # (moto would list it twice), so a retry after a lost answer is refused
                if ip in norm6(other.ipv6_addresses):
                    raise err(STATE.ipv6_in_use_code, f"Address {ip} is in use by {other.id}")
        seen(eni)
        result = ORIG["assign_ipv6_addresses"](self, eni_id, wanted or None, ipv6_count)
        seen(eni)
        return result


def unassign_ipv6_addresses(self: Any, eni_id: str, ips: list[str] | None = None) -> list[str]:
    """The release becomes visible after the move delay, as AWS's asynchronous unassign. An
    address the ENI does not hold is refused (AWS: "...not mapped to interface"; moto answers
    200), so a retried unassign whose first answer was lost fails."""
    with lock:
        eni = self.get_network_interface(eni_id)
        wanted = {str(ipaddress.ip_address(a)) for a in ips or []}
        gone = [a for a in eni.ipv6_addresses if str(ipaddress.ip_address(a)) in wanted]
        missing = wanted - norm6(gone)
        if missing:
            raise err(
                "InvalidParameterValue",
                f"Ipv6 addresses {', '.join(sorted(missing))} are not mapped to interface {eni_id}",
            )

        seen(eni)

        def apply() -> None:
            eni.ipv6_addresses[:] = [a for a in eni.ipv6_addresses if a not in gone]
            seen(eni)

        later(apply)
        return gone


def eni_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
    """AWS: addresses.private-ip-address matches secondary addresses too."""
    if filter_name == "addresses.private-ip-address":
        return [a["PrivateIpAddress"] for a in self.private_ip_addresses]
    if filter_name in ("ipv6-addresses.ipv6-address", "ipv6-address"):
        return sorted(norm6(self.ipv6_addresses))
    return ORIG["eni_filter_value"](self, filter_name, method_name)


def is_filter_matching(obj: Any, _filter: str, filter_value: Any) -> bool:
    """AWS: a multi-valued attribute matches when ANY of its values matches ANY filter value.
    moto demands subset/superset, so an ENI with two addresses escapes a one-address filter."""
    value = obj.get_filter_value(_filter)
    if filter_value is None:
        return False
    if isinstance(value, (list, tuple, set, frozenset, type({}.keys()), type({}.values()))):
        patterns = filter_value if isinstance(filter_value, list) else [filter_value]
        return any(fnmatch.fnmatchcase(str(v), str(p)) for v in value for p in patterns)
    return bool(ORIG["is_filter_matching"](obj, _filter, filter_value))


def assign_private_ips_response(self: Any) -> Any:
    from moto.core.responses import ActionResult

    eni_id = self._get_param("NetworkInterfaceId")
    count = self._get_int_param("SecondaryPrivateIpAddressCount", 0)
    ips = self._get_param("PrivateIpAddresses", [])
    allow = self._get_bool_param("AllowReassignment", False)
    eni = self.ec2_backend.assign_private_ip_addresses(eni_id, ips, count, allow)
    assigned = [{"PrivateIpAddress": ip} for ip in ips] if ips else eni.private_ip_addresses
    return ActionResult({"NetworkInterfaceId": eni.id, "AssignedPrivateIpAddresses": assigned})


def subnet_ipv6_association_set(self: Any) -> list[dict[str, Any]]:
    """AWS reports Ipv6CidrBlockState.State = "associated"; moto nests the whole state dict
    inside another and serialises it as a string."""
    return [
        {
            "ipv6CidrBlock": a["ipv6CidrBlock"],
            "associationId": a["associationId"],
            "ipv6CidrBlockState": {"state": a["ipv6CidrBlockState"]["State"]},
        }
        for a in self.ipv6_cidr_block_associations.values()
        if a["ipv6CidrBlockState"]["State"] == "associated"
    ]
