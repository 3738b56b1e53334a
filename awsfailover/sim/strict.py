"""Make moto as strict as EC2 where awsfailover relies on it (see shared notes, aws-facts.md).

Each patch names the AWS behaviour it restores. Patches apply to moto's classes once per
process; the local endpoint installs them before it serves its first request.

The asynchronous move: AWS confirms a reassignment some time after the API call returns. With
`SimState.move_delay` > 0 a move (IPv4 reassignment, IPv6 unassign) becomes visible only after
that delay, so callers must confirm instead of trusting the 200.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import threading
import time
from dataclasses import dataclass
from typing import Any

_installed = False
_lock = threading.RLock()


@dataclass
class SimState:
    move_delay: float = 0.0
    # AWS does not document the code AssignIpv6Addresses answers while the address is still
    # held (being released) elsewhere; InvalidIPAddress.InUse is what EC2 answers for a
    # private address in use. Tests run the move against both.
    ipv6_in_use_code: str = "InvalidIPAddress.InUse"
    # AWS: a moved address shows in the new owner's instance metadata (local-ipv4s, ipv6s)
    # some time after the API shows it; the two views lag independently ("Multiple IP
    # addresses", EC2 User Guide: confirm in metadata). Seconds the metadata view trails.
    metadata_delay: float = 0.0


# ENI id -> [(monotonic time, IPv4 addresses, IPv6 addresses)], appended on every change the
# API view makes; the metadata view answers from it, metadata_delay seconds behind.
_HISTORY: dict[str, list[tuple[float, tuple[str, ...], tuple[str, ...]]]] = {}


def _addresses(eni: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    v4 = tuple(a["PrivateIpAddress"] for a in eni.private_ip_addresses)
    return v4, tuple(sorted(_norm6(eni.ipv6_addresses)))


def _seen(*enis: Any) -> None:
    """Record the API view of enis now (called before and after each change)."""
    now = time.monotonic()
    for eni in enis:
        hist = _HISTORY.setdefault(eni.id, [])
        v4, v6 = _addresses(eni)
        if not hist or hist[-1][1:] != (v4, v6):
            hist.append((0.0 if not hist else now, v4, v6))


def metadata_addresses(eni: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the owner's instance metadata says: the API view metadata_delay seconds ago."""
    with _lock:
        hist = _HISTORY.get(eni.id)
        if not hist:
            return _addresses(eni)
        cutoff = time.monotonic() - STATE.metadata_delay
        past = [h for h in hist if h[0] <= cutoff]
        _, v4, v6 = past[-1] if past else hist[0]
        return v4, v6


STATE = SimState()


def _err(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def _later(fn: Any) -> None:
    """Apply fn now, or after the configured move delay (AWS's asynchronous confirmation)."""

    def locked() -> None:
        with _lock:
            fn()

    if STATE.move_delay <= 0:
        locked()
        return
    t = threading.Timer(STATE.move_delay, locked)
    t.daemon = True
    t.start()


def _all_enis(backend: Any) -> list[Any]:
    return list(backend.enis.values())


def _ipv4_in_subnet(eni: Any, ip: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(eni.subnet.cidr_block)


def _ipv6_in_subnet(eni: Any, ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    for assoc in eni.subnet.ipv6_cidr_block_associations.values():
        cidr = assoc.get("ipv6CidrBlock")
        if cidr and addr in ipaddress.ip_network(cidr):
            return True
    return False


def assign_private_ip_addresses(
    self: Any,
    eni_id: str,
    private_ip_addresses: list[str] | None = None,
    secondary_ips_count: int | None = None,
    allow_reassignment: bool = False,
) -> Any:
    """AWS: all-or-nothing; in-subnet only; a held address moves only with AllowReassignment,
    and then leaves its old holder (moto keeps it on both)."""
    with _lock:
        eni = self.get_network_interface(eni_id)
        if not private_ip_addresses:
            return _ORIG["assign_private_ip_addresses"](self, eni_id, None, secondary_ips_count)
        moves: list[tuple[str, Any]] = []
        for ip in private_ip_addresses:
            if ipaddress.ip_address(ip).version != 4 or not _ipv4_in_subnet(eni, ip):
                raise _err(
                    "InvalidParameterValue",
                    f"Address {ip} does not fall within the subnet's address range",
                )
            for other in _all_enis(self):
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
                    raise _err(
                        "InvalidParameterValue",
                        f"Address {ip} is the primary private IP of {other.id} and cannot "
                        "be reassigned",
                    )
                if not allow_reassignment:
                    raise _err(
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
        _seen(*touched)

        def apply() -> None:
            for ip, other in moves:
                other.private_ip_addresses[:] = [
                    a for a in other.private_ip_addresses if a["PrivateIpAddress"] != ip
                ]
                # AWS: an Elastic IP associated with a reassigned private address moves with
                # it ("Multiple IP addresses", EC2 User Guide); moto leaves it behind.
                for eip in self.addresses:
                    if eip.eni is other and _eip_private(eip) == ip:
                        eip.eni = eni
            have = {a["PrivateIpAddress"] for a in eni.private_ip_addresses}
            eni.private_ip_addresses.extend(
                {"Primary": False, "PrivateIpAddress": ip} for ip in fresh if ip not in have
            )
            _seen(*touched)

        if moving:
            _later(apply)
        else:
            apply()
        return eni


def _eip_private(eip: Any) -> str | None:
    if eip.eni is None:
        return None
    private: str | None = getattr(eip, "sim_private_ip", None) or eip.eni.private_ip_address
    return private


def eip_private_ip_address(self: Any) -> str | None:
    """AWS reports the private address the Elastic IP maps to; moto always says primary."""
    return _eip_private(self)


def eip_network_interface_id(self: Any) -> str | None:
    """AWS omits NetworkInterfaceId of an unassociated address; moto sends it empty."""
    eni_id: str | None = self.eni.id if self.eni else None
    return eni_id


def eip_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
    if filter_name == "private-ip-address":
        return _eip_private(self)
    return _ORIG["eip_filter_value"](self, filter_name, method_name)


def associate_address_response(self: Any) -> Any:
    """AssociateAddress as EC2 does it for a VPC address (AssociateAddress, EC2 API Reference):
    - by allocation id, to a network interface and one of its private addresses (primary when
      none is given); an address the ENI does not hold is refused (AWS documents no code for
      it: InvalidParameterValue, EC2's code for a bad parameter);
    - an address associated elsewhere moves only with AllowReassociation=true, else
      Resource.AlreadyAssociated (the stricter, older documented behaviour: we always send
      the flag, so a caller that forgets it must fail here). moto reads the flag as a string,
      so "false" allows it, and ignores PrivateIpAddress;
    - one Elastic IP per private address: one already there is disassociated;
    - idempotent: the same association again succeeds and keeps its id."""
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import DryRunClientError
    from moto.ec2.utils import random_eip_association_id

    alloc = self._get_param("AllocationId")
    eni_id = self._get_param("NetworkInterfaceId")
    if not alloc or not eni_id:
        raise _err(
            "MissingParameter", "the local endpoint takes AllocationId and NetworkInterfaceId"
        )
    allow = self._get_bool_param("AllowReassociation", False)
    backend = self.ec2_backend
    with _lock:
        eip = backend.address_by_allocation([alloc])[0]
        eni = backend.get_network_interface(eni_id)
        if self._get_bool_param("DryRun", False):
            # permission only: the resources exist, the state is not judged (check-iam asks
            # with the peer's VIP before any move)
            raise DryRunClientError()
        private = self._get_param("PrivateIpAddress") or eni.private_ip_address
        if private not in {a["PrivateIpAddress"] for a in eni.private_ip_addresses}:
            raise _err(
                "InvalidParameterValue",
                f"The private IP address {private} is not assigned to network interface {eni_id}",
            )
        same = eip.eni is eni and _eip_private(eip) == private
        if eip.eni is not None and not same and not allow:
            raise _err(
                "Resource.AlreadyAssociated",
                f"Elastic IP {alloc} is already associated with {eip.eni.id} {_eip_private(eip)}",
            )
        if not same:
            for other in backend.addresses:
                if other is not eip and other.eni is eni and _eip_private(other) == private:
                    other.eni = other.instance = other.association_id = None
            eip.eni = eni
            eip.instance = getattr(eni, "instance", None)
            eip.sim_private_ip = private
            eip.association_id = random_eip_association_id()
        return ActionResult({"AssociationId": eip.association_id})


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
        raise _err(
            "PrivateIpAddressLimitExceeded",
            f"Number of private addresses will exceed limit of {limit} for {eni.id} "
            f"({inst.instance_type})",
        )


def assign_ipv6_addresses(
    self: Any, eni_id: str, ipv6_addresses: list[str] | None = None, ipv6_count: int | None = None
) -> Any:
    """AWS: an IPv6 address has one holder; no reassignment flag exists."""
    with _lock:
        eni = self.get_network_interface(eni_id)
        wanted = [str(ipaddress.ip_address(a)) for a in ipv6_addresses or []]
        for ip in wanted:
            if not _ipv6_in_subnet(eni, ip):
                raise _err(
                    "InvalidParameterValue",
                    f"Address {ip} does not fall within the subnet's address range",
                )
            for other in _all_enis(self):
                # the same ENI too: AWS refuses to assign an address the ENI already holds
                # (moto would list it twice), so a retry after a lost answer is refused
                if ip in _norm6(other.ipv6_addresses):
                    raise _err(STATE.ipv6_in_use_code, f"Address {ip} is in use by {other.id}")
        _seen(eni)
        result = _ORIG["assign_ipv6_addresses"](self, eni_id, wanted or None, ipv6_count)
        _seen(eni)
        return result


def unassign_ipv6_addresses(self: Any, eni_id: str, ips: list[str] | None = None) -> list[str]:
    """The release becomes visible after the move delay, as AWS's asynchronous unassign. An
    address the ENI does not hold is refused (AWS: "...not mapped to interface"; moto answers
    200), so a retried unassign whose first answer was lost fails."""
    with _lock:
        eni = self.get_network_interface(eni_id)
        wanted = {str(ipaddress.ip_address(a)) for a in ips or []}
        gone = [a for a in eni.ipv6_addresses if str(ipaddress.ip_address(a)) in wanted]
        missing = wanted - _norm6(gone)
        if missing:
            raise _err(
                "InvalidParameterValue",
                f"Ipv6 addresses {', '.join(sorted(missing))} are not mapped to interface {eni_id}",
            )

        _seen(eni)

        def apply() -> None:
            eni.ipv6_addresses[:] = [a for a in eni.ipv6_addresses if a not in gone]
            _seen(eni)

        _later(apply)
        return gone


def _norm6(addrs: list[str]) -> set[str]:
    return {str(ipaddress.ip_address(a)) for a in addrs}


def eni_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
    """AWS: addresses.private-ip-address matches secondary addresses too."""
    if filter_name == "addresses.private-ip-address":
        return [a["PrivateIpAddress"] for a in self.private_ip_addresses]
    if filter_name in ("ipv6-addresses.ipv6-address", "ipv6-address"):
        return sorted(_norm6(self.ipv6_addresses))
    return _ORIG["eni_filter_value"](self, filter_name, method_name)


def is_filter_matching(obj: Any, _filter: str, filter_value: Any) -> bool:
    """AWS: a multi-valued attribute matches when ANY of its values matches ANY filter value.
    moto demands subset/superset, so an ENI with two addresses escapes a one-address filter."""
    value = obj.get_filter_value(_filter)
    if filter_value is None:
        return False
    if isinstance(value, (list, tuple, set, frozenset, type({}.keys()), type({}.values()))):
        patterns = filter_value if isinstance(filter_value, list) else [filter_value]
        return any(fnmatch.fnmatchcase(str(v), str(p)) for v in value for p in patterns)
    return bool(_ORIG["is_filter_matching"](obj, _filter, filter_value))


PROPAGATED = "EnableVgwRoutePropagation"


def route_origin(self: Any) -> str:
    """AWS reports how a route came to be; moto knows only CreateRoute(Table)."""
    return getattr(self, "sim_origin", None) or (
        "CreateRouteTable" if self.local else "CreateRoute"
    )


def add_propagated_route(backend: Any, table_id: str, destination: str, gateway_id: str) -> None:
    """What a virtual private gateway with route propagation adds: a route of Origin
    EnableVgwRoutePropagation. It may share its destination with a static route, which wins
    ("Route priority", Amazon VPC User Guide). moto has no propagation, so the control API
    adds one."""
    from types import SimpleNamespace

    from moto.ec2.models.route_tables import Route

    with _lock:
        table = backend.get_route_table(table_id)
        v6 = ipaddress.ip_network(destination).version == 6
        make: Any = Route  # moto marks CloudFormation hooks abstract; never used here
        route: Any = make(table, None if v6 else destination, destination if v6 else None)
        route.gateway = SimpleNamespace(id=gateway_id)
        route.sim_origin = PROPAGATED
        route.id = f"{route.id}~propagated"  # beside a static route of the same destination
        table._routes[route.id] = route


def _find_route(table: Any, cidr: str | None, cidr6: str | None, pl: str | None) -> Any:
    """The route ReplaceRoute changes: the static one; a propagated route alone cannot be
    replaced (propagated routes are managed by the gateway, "Route propagation", Amazon VPC
    User Guide)."""
    found = list(_matching_routes(table, cidr, cidr6, pl))
    static = [r for r in found if getattr(r, "sim_origin", None) != PROPAGATED]
    if static:
        return static[0]
    if found:
        raise _err(
            "InvalidParameterValue",
            f"The route for '{cidr or cidr6 or pl}' in {table.id} is propagated from a virtual "
            "private gateway and cannot be replaced",
        )
    return None


def _matching_routes(table: Any, cidr: str | None, cidr6: str | None, pl: str | None) -> Any:
    for route in table._routes.values():
        if (
            (pl and route.destination_prefix_list and route.destination_prefix_list.id == pl)
            or (cidr and route.destination_cidr_block == cidr)
            or (
                cidr6
                and route.destination_ipv6_cidr_block
                and ipaddress.ip_network(route.destination_ipv6_cidr_block)
                == ipaddress.ip_network(cidr6)
            )
        ):
            yield route


def create_route(
    self: Any, route_table_id: str, destination_cidr_block: str | None, *args: Any, **kwargs: Any
) -> Any:
    """AWS keeps the prefix-list destination of a route that targets an ENI; moto drops it
    (and then cannot find the route to replace)."""
    pl = kwargs.get("destination_prefix_list_id") or (args[1] if len(args) > 1 else None)
    with _lock:
        route = _ORIG["create_route"](self, route_table_id, destination_cidr_block, *args, **kwargs)
        if pl and route.destination_prefix_list is None:
            from moto.ec2.utils import generate_route_id

            table = self.get_route_table(route_table_id)
            table._routes.pop(route.id, None)
            route.destination_prefix_list = self.managed_prefix_lists.get(pl)
            if route.destination_prefix_list is None:
                raise _err("InvalidPrefixListID.NotFound", f"The prefix list {pl} does not exist")
            route.id = generate_route_id(table.id, None, None, pl)
            table._routes[route.id] = route
        return route


def replace_route_response(self: Any) -> Any:
    """AWS: DryRun checks and does not apply; a prefix-list destination can be replaced; the
    target ENI must exist."""
    from moto.core.responses import EmptyResult
    from moto.ec2.exceptions import DryRunClientError

    table_id = self._get_param("RouteTableId")
    cidr = self._get_param("DestinationCidrBlock")
    cidr6 = self._get_param("DestinationIpv6CidrBlock")
    pl = self._get_param("DestinationPrefixListId")
    eni_id = self._get_param("NetworkInterfaceId")
    with _lock:
        table = self.ec2_backend.get_route_table(table_id)
        route = _find_route(table, cidr, cidr6, pl)
        if route is None:
            raise _err(
                "InvalidParameterValue",
                f"There is no route defined for '{cidr or cidr6 or pl}' in the route table. "
                "Use CreateRoute instead.",
            )
        if eni_id:
            target = self.ec2_backend.get_network_interface(eni_id)
            # AWS refuses a target of another VPC ("route table rtb-... and network interface
            # eni-... belong to different networks"); moto accepts any ENI of the Region.
            if target.subnet.vpc_id != table.vpc_id:
                raise _err(
                    "InvalidParameterValue",
                    f"route table {table.id} and network interface {eni_id} belong to "
                    "different networks",
                )
        if self._get_bool_param("DryRun", False):
            raise DryRunClientError()
        if eni_id:
            route.gateway = route.nat_gateway = route.transit_gateway = None
            route.egress_only_igw = route.instance = route.vpc_pcx = None
            route.carrier_gateway = None
            route.vpc_endpoint_id = None
            route.interface = self.ec2_backend.get_network_interface(eni_id)
            return EmptyResult()
    return _ORIG["replace_route_response"](self)


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


_PORTED = frozenset({"tcp", "udp", "icmp", "icmpv6", "6", "17", "1", "58"})


def security_group_rule_init(  # noqa: PLR0917 - moto's own signature
    self: Any,
    ec2_backend: Any,
    ip_protocol: str,
    group_id: str,
    from_port: Any,
    to_port: Any,
    *args: Any,
    **kwargs: Any,
) -> None:
    """AWS: protocols without ports (VRRP is IP protocol 112) take a rule with no port range;
    moto crashes on int(None)."""
    portless = str(ip_protocol).lower() not in _PORTED and from_port is None and to_port is None
    _ORIG["sg_rule_init"](
        self,
        ec2_backend,
        ip_protocol,
        group_id,
        "0" if portless else from_port,
        "0" if portless else to_port,
        *args,
        **kwargs,
    )
    if portless:
        self.from_port = self.to_port = None


def create_subnet_cidr_reservation_response(self: Any) -> Any:
    """AWS stores and returns the reservation's Description; moto drops it (so Terraform
    would plan to replace every reservation on each run)."""
    result = _ORIG["create_subnet_cidr_reservation"](self)
    result.result["SubnetCidrReservation"].description = self._get_param("Description")
    return result


_ORIG: dict[str, Any] = {}


def install() -> None:
    """Patch moto's classes (idempotent)."""
    global _installed  # noqa: PLW0603 - patching is process-wide by nature
    with _lock:
        if _installed:
            return
        import moto.ec2.utils as ec2_utils
        from moto.ec2.models.elastic_network_interfaces import (
            NetworkInterface,
            NetworkInterfaceBackend,
        )
        from moto.ec2.models.route_tables import RouteBackend
        from moto.ec2.models.security_groups import SecurityGroupRule
        from moto.ec2.models.subnets import Subnet
        from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces
        from moto.ec2.responses.route_tables import RouteTables
        from moto.ec2.responses.subnets import Subnets

        _ORIG["assign_private_ip_addresses"] = NetworkInterfaceBackend.assign_private_ip_addresses
        _ORIG["assign_ipv6_addresses"] = NetworkInterfaceBackend.assign_ipv6_addresses
        _ORIG["eni_filter_value"] = NetworkInterface.get_filter_value
        _ORIG["is_filter_matching"] = ec2_utils.is_filter_matching
        _ORIG["replace_route_response"] = RouteTables.replace_route
        _ORIG["create_route"] = RouteBackend.create_route
        _ORIG["sg_rule_init"] = SecurityGroupRule.__init__
        from moto.ec2.models.route_tables import Route

        _ORIG["create_subnet_cidr_reservation"] = Subnets.create_subnet_cidr_reservation
        from moto.ec2.models.elastic_ip_addresses import ElasticAddress
        from moto.ec2.responses.elastic_ip_addresses import ElasticIPAddresses

        _ORIG["eip_filter_value"] = ElasticAddress.get_filter_value

        patches: list[tuple[Any, str, Any]] = [
            (NetworkInterfaceBackend, "assign_private_ip_addresses", assign_private_ip_addresses),
            (NetworkInterfaceBackend, "assign_ipv6_addresses", assign_ipv6_addresses),
            (NetworkInterfaceBackend, "unassign_ipv6_addresses", unassign_ipv6_addresses),
            (NetworkInterface, "get_filter_value", eni_filter_value),
            (ec2_utils, "is_filter_matching", is_filter_matching),
            (RouteTables, "replace_route", replace_route_response),
            (RouteBackend, "create_route", create_route),
            (Subnet, "ipv6_cidr_block_association_set", property(subnet_ipv6_association_set)),
            (ElasticNetworkInterfaces, "assign_private_ip_addresses", assign_private_ips_response),
            (SecurityGroupRule, "__init__", security_group_rule_init),
            (Subnets, "create_subnet_cidr_reservation", create_subnet_cidr_reservation_response),
            (Route, "origin", property(route_origin)),
            (ElasticAddress, "private_ip_address", property(eip_private_ip_address)),
            (ElasticAddress, "get_filter_value", eip_filter_value),
            (ElasticAddress, "network_interface_id", property(eip_network_interface_id)),
            (ElasticIPAddresses, "associate_address", associate_address_response),
        ]
        for target, name, fn in patches:
            setattr(target, name, fn)
        _installed = True
