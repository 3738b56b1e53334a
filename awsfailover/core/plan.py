"""The pure planner: (desired instance, observed state) -> the minimal list of actions.

An empty plan means converged; that is what makes a second run free of mutating calls.
Everything the planner refuses is refused before any mutating call is made.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from awsfailover.core.items import Item
from awsfailover.core.model import (
    Action,
    AssignPrivateIps,
    AssociateEip,
    MoveIpv6,
    Observed,
    Plan,
    ReplaceRoute,
    RouteTable,
)
from awsfailover.core.spec import PRIMARY, EipSpec, InstanceSpec
from awsfailover.errors import ConfigError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _reserved(addr: IpAddress, net: IpNetwork) -> bool:
    """AWS reserves the first four addresses and the last one of every subnet CIDR block, IPv4
    and IPv6 ("Subnet CIDR blocks", Amazon VPC User Guide): no ENI can ever hold them."""
    offset = int(addr) - int(net.network_address)
    return offset < 4 or addr == net.broadcast_address


def check_vips(inst: InstanceSpec, observed: Observed) -> None:
    """A secondary IP cannot leave its subnet: refuse what AWS would refuse, before acting."""
    subnet = observed.subnet
    nets = [ipaddress.ip_network(subnet.ipv4_cidr)]
    nets += [ipaddress.ip_network(c) for c in subnet.ipv6_cidrs]
    for vip in inst.vips:
        addr = ipaddress.ip_address(vip)
        net = next((n for n in nets if addr in n), None)
        if net is None:
            cidrs = (
                ", ".join(str(n) for n in nets if n.version == addr.version)
                or f"no IPv{addr.version} CIDR"
            )
            raise ConfigError(
                f"instances.{inst.name}.vips: {vip} is outside subnet {subnet.subnet_id} "
                f"({cidrs}) of {observed.local.eni_id}; across subnets use routes only"
            )
        if _reserved(addr, net):
            raise ConfigError(
                f"instances.{inst.name}.vips: {vip} is reserved by AWS in {net} (the first "
                "four addresses and the last of a subnet): no ENI can hold it"
            )
    for vip in inst.vips:
        holder = observed.holders.get(vip)
        if holder is None or holder.eni_id == observed.local.eni_id:
            continue
        if holder.subnet_id != observed.local.subnet_id:
            raise ConfigError(
                f"instances.{inst.name}.vips: {vip} is held by {holder.eni_id} in subnet "
                f"{holder.subnet_id}, not {observed.local.subnet_id} of {observed.local.eni_id}; "
                "a secondary IP cannot move across subnets"
            )
        if holder.primary_ipv4 == vip:
            raise ConfigError(
                f"instances.{inst.name}.vips: {vip} is the primary address of {holder.eni_id} "
                "and cannot be moved"
            )


def check_room(inst: InstanceSpec, observed: Observed) -> None:
    """Where the instance type is known, refuse a move AWS would refuse with
    PrivateIpAddressLimitExceeded, before any mutating call."""
    if observed.ipv4_limit is None:
        return
    itype, limit = observed.ipv4_limit
    need = len(set(observed.local.private_ipv4s) | set(inst.ipv4_vips))
    if need > limit:
        raise ConfigError(
            f"instances.{inst.name}.vips: {observed.local.eni_id} would hold {need} IPv4 "
            f"addresses; {itype} allows {limit} per ENI (free secondaries or a larger type)"
        )


def routes_in(inst: InstanceSpec, table: RouteTable, observed: Observed) -> list[str]:
    """The destinations inst owns in table: its list, or with routes = "auto" every static
    route targeting a group ENI (ours included: a converged route stays selected) that no
    other instance lists explicitly."""
    if not inst.auto_routes:
        return list(inst.explicit_routes)
    enis = observed.auto_enis | {observed.local.eni_id}
    return sorted(
        dest
        for dest, route in table.routes.items()
        if route.eni_id in enis and not route.propagated and dest not in observed.claimed
    )


def resolve_private_ip(inst: InstanceSpec, eip: EipSpec, az: str, primary: str) -> str:
    """The private address this Elastic IP maps to on a node whose ENI is in `az` with the
    primary address `primary`: the one rule the planner and doctor share."""
    want = eip.private_ip
    if isinstance(want, dict):
        if az not in want:
            raise ConfigError(
                f"instances.{inst.name}.eips: {eip.allocation_id} names no private_ip for "
                f"{az or 'an unknown Availability Zone'}"
            )
        want = want[az]
    if want is None:
        return inst.ipv4_vips[0]  # config validation made sure there is one
    if want == PRIMARY:
        return primary
    return str(want)


def eip_private_ip(inst: InstanceSpec, eip: EipSpec, observed: Observed) -> str:
    """The private address of our ENI this Elastic IP must map to."""
    return resolve_private_ip(
        inst, eip, observed.subnet.availability_zone, observed.local.primary_ipv4
    )


def missing_eips(inst: InstanceSpec, observed: Observed) -> list[str]:
    """The Elastic IPs of inst that EC2 does not have (released, or a typo): they cannot move,
    and they must not stop the rest of the instance from moving."""
    return [
        f"instances.{inst.name}.eips: {e.allocation_id} does not exist "
        "(InvalidAllocationID.NotFound)"
        for e in inst.eips
        if e.allocation_id not in observed.eips
    ]


def check_eips(inst: InstanceSpec, observed: Observed) -> None:
    """AWS refuses a private address the ENI does not hold: only a VIP this instance moves
    here, or an address our ENI already holds, can carry the Elastic IP. One that does not
    exist is reported by missing_eips, not refused here. Two that map to one private address
    are refused: EC2 keeps one Elastic IP per address, so each association undoes the other."""
    seen: dict[str, str] = {}
    for eip in inst.eips:
        if eip.allocation_id not in observed.eips:
            continue
        private = eip_private_ip(inst, eip, observed)
        if private in seen:
            raise ConfigError(
                f"instances.{inst.name}.eips: {seen[private]} and {eip.allocation_id} both map "
                f"to {private} on {observed.local.eni_id}; EC2 keeps one Elastic IP per "
                "private address"
            )
        seen[private] = eip.allocation_id
        if private not in inst.ipv4_vips and private not in observed.local.private_ipv4s:
            raise ConfigError(
                f"instances.{inst.name}.eips: {eip.allocation_id} maps to {private}, which is "
                f"neither an IPv4 VIP of this instance nor an address of {observed.local.eni_id}"
            )


def check_routes(inst: InstanceSpec, observed: Observed) -> None:
    if inst.routes and not observed.tables:
        raise ConfigError(f"instances.{inst.name}: routes are listed but no route table selected")
    for table in observed.tables.values():
        if table.vpc_id and table.vpc_id != observed.local.vpc_id:
            # AWS refuses a target from another network; refuse it here, before acting.
            raise ConfigError(
                f"instances.{inst.name}.route_tables: {table.table_id} is in VPC "
                f"{table.vpc_id}, not {observed.local.vpc_id} of {observed.local.eni_id}"
            )
        for dest in routes_in(inst, table, observed):
            if dest not in table.routes:
                raise ConfigError(
                    f"instances.{inst.name}.routes: {dest} is not a route in {table.table_id}"
                )
            if table.routes[dest].propagated:
                raise ConfigError(
                    f"instances.{inst.name}.routes: {dest} in {table.table_id} is propagated "
                    f"from {table.routes[dest].target} and cannot be replaced; create a static "
                    "route for it (a static route wins over a propagated one)"
                )


def plan(inst: InstanceSpec, observed: Observed) -> Plan:
    check_vips(inst, observed)
    check_room(inst, observed)
    check_routes(inst, observed)
    check_eips(inst, observed)
    ours = observed.local.eni_id
    actions: list[Action] = []

    v4_moves = [
        (vip, observed.holders[vip].eni_id if vip in observed.holders else None)
        for vip in inst.ipv4_vips
        if vip not in observed.local.private_ipv4s
    ]
    if v4_moves:
        actions.append(
            AssignPrivateIps(
                eni_id=ours, ips=tuple(ip for ip, _ in v4_moves), previous=tuple(v4_moves)
            )
        )

    v6_missing = [vip for vip in inst.ipv6_vips if vip not in observed.local.ipv6s]
    if v6_missing:
        release: dict[str, list[str]] = defaultdict(list)
        for vip in v6_missing:
            holder = observed.holders.get(vip)
            if holder is not None and holder.eni_id != ours:
                release[holder.eni_id].append(vip)
        actions.append(
            MoveIpv6(
                eni_id=ours,
                ips=tuple(v6_missing),
                unassign=tuple((eni, tuple(ips)) for eni, ips in sorted(release.items())),
            )
        )

    moving = dict(v4_moves)
    for eip in inst.eips:
        if eip.allocation_id not in observed.eips:
            continue  # missing_eips: reported as not moved, the rest still moves
        private = eip_private_ip(inst, eip, observed)
        state = observed.eips[eip.allocation_id]
        if state.eni_id == ours and state.private_ip == private:
            continue
        if private in moving and state.private_ip == private and state.eni_id == moving[private]:
            # An Elastic IP follows its private address when AllowReassignment moves it
            # (EC2 User Guide, "Multiple IP addresses"): the VIP move carries it, and the
            # confirmation checks it did; a second round associates it if it did not.
            continue
        previous = f"{state.eni_id} {state.private_ip}" if state.eni_id else "unassociated"
        actions.append(
            AssociateEip(
                allocation_id=eip.allocation_id,
                public_ip=state.public_ip,
                eni_id=ours,
                private_ip=private,
                previous=previous,
                after_vip=private in moving,
            )
        )

    for table_id in sorted(observed.tables):
        table = observed.tables[table_id]
        for dest in routes_in(inst, table, observed):
            route = table.routes[dest]
            if route.eni_id != ours:
                actions.append(
                    ReplaceRoute(
                        table_id=table_id, destination=dest, eni_id=ours, previous=route.target
                    )
                )
    return Plan(instance=inst.name, eni_id=ours, actions=tuple(actions))


def item_names(inst: InstanceSpec, observed: Observed) -> list[Item]:
    """Every item a takeover of inst converges: its VIPs, Elastic IPs and routes."""
    items = [Item.vip(v) for v in inst.vips]
    items += [Item.eip(e.allocation_id) for e in inst.eips]
    items += [
        Item.route(t, d)
        for t in sorted(observed.tables)
        for d in routes_in(inst, observed.tables[t], observed)
    ]
    return items


def owners(inst: InstanceSpec, observed: Observed) -> dict[Item, tuple[str | None, bool]]:
    """item -> (the ENI it is on, whether it is on it the way this node wants it)."""
    out: dict[Item, tuple[str | None, bool]] = {}
    for vip in inst.vips:
        holder = observed.holders.get(vip)
        out[Item.vip(vip)] = (holder.eni_id if holder else None, True)
    for eip in inst.eips:
        state = observed.eips.get(eip.allocation_id)
        if state is None:
            out[Item.eip(eip.allocation_id)] = (None, False)
            continue
        try:
            exact = state.private_ip == eip_private_ip(inst, eip, observed)
        except ConfigError:
            exact = False
        out[Item.eip(eip.allocation_id)] = (state.eni_id, exact)
    for table in observed.tables.values():
        for dest in routes_in(inst, table, observed):
            route = table.routes.get(dest)
            out[Item.route(table.table_id, dest)] = (route.eni_id if route else None, True)
    return out


def items_at(inst: InstanceSpec, observed: Observed, eni_id: str) -> set[Item]:
    """The items (VIPs, Elastic IPs, routes) that are on eni_id in this observation."""
    return {i for i, (eni, exact) in owners(inst, observed).items() if eni == eni_id and exact}


def converged_on(inst: InstanceSpec, observed: Observed) -> str | None:
    """The one ENI holding every VIP and Elastic IP and targeted by every selected route, if
    there is one."""
    enis = {eni for eni, _ in owners(inst, observed).values()}
    if len(enis) == 1:
        (owner,) = enis
        return owner
    return None
