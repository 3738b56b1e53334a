"""Plain data shared by the planner, the executor and the commands. No I/O here."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from awsfailover.core.items import Item


def destination_kind(dest: str) -> str:
    """'pl' for a prefix list, else 'ipv4' or 'ipv6' (the ReplaceRoute parameter differs)."""
    if dest.startswith("pl-"):
        return "pl"
    return "ipv6" if ipaddress.ip_network(dest).version == 6 else "ipv4"


@dataclass(frozen=True)
class Eni:
    """A network interface as observed."""

    eni_id: str
    subnet_id: str
    vpc_id: str
    primary_ipv4: str
    private_ipv4s: tuple[str, ...]
    ipv6s: tuple[str, ...]


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    vpc_id: str
    ipv4_cidr: str
    ipv6_cidrs: tuple[str, ...]
    availability_zone: str = ""


@dataclass(frozen=True)
class RouteState:
    destination: str
    eni_id: str | None  # the ENI the route points at, if it points at one
    target: str  # human-readable target ("eni-...", "igw-...", "blackhole", ...)
    propagated: bool = False  # Origin EnableVgwRoutePropagation: cannot be replaced


@dataclass(frozen=True)
class RouteTable:
    table_id: str
    vpc_id: str
    routes: dict[str, RouteState]
    explicit_subnets: tuple[str, ...]


@dataclass(frozen=True)
class EipState:
    """An Elastic IP as DescribeAddresses reports it."""

    allocation_id: str
    public_ip: str
    eni_id: str | None  # the ENI it is associated with, if any
    private_ip: str | None  # the private address of that ENI it maps to


@dataclass(frozen=True)
class AddressLimit:
    """What an instance type allows per ENI (DescribeInstanceTypes' NetworkInfo)."""

    instance_type: str
    ipv4: int
    ipv6: int


@dataclass(frozen=True)
class Observed:
    """What one round of Describe calls saw, for one instance."""

    local: Eni
    subnet: Subnet
    holders: dict[str, Eni]  # VIP -> ENI holding it (absent: nobody holds it)
    tables: dict[str, RouteTable]
    # (instance type, IPv4 addresses per ENI) of our ENI's instance, when it has been looked up
    ipv4_limit: tuple[str, int] | None = None
    eips: dict[str, EipState] = field(default_factory=dict)  # allocation id -> state
    # routes = "auto": routes targeting one of these ENIs are the instance's, except the
    # destinations another instance lists explicitly (claimed)
    auto_enis: frozenset[str] = frozenset()
    claimed: frozenset[str] = frozenset()


# --- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignPrivateIps:
    """One AssignPrivateIpAddresses(AllowReassignment=True): moves without a gap."""

    eni_id: str
    ips: tuple[str, ...]
    previous: tuple[tuple[str, str | None], ...]  # (ip, eni that held it)

    def items(self) -> set[Item]:
        return {Item.vip(ip) for ip in self.ips}

    def describe(self) -> str:
        frm = ", ".join(f"{ip} from {old or 'nobody'}" for ip, old in self.previous)
        return f"assign-private-ip {' '.join(self.ips)} -> {self.eni_id} ({frm})"


@dataclass(frozen=True)
class MoveIpv6:
    """Unassign from each holder, then one assign to ours. IPv6 has no reassignment flag."""

    eni_id: str
    ips: tuple[str, ...]
    unassign: tuple[tuple[str, tuple[str, ...]], ...]  # (holder eni, its ips to release)

    def items(self) -> set[Item]:
        return {Item.vip(ip) for ip in self.ips}

    def describe(self) -> str:
        parts = [f"unassign-ipv6 {' '.join(ips)} from {eni}" for eni, ips in self.unassign]
        parts.append(f"assign-ipv6 {' '.join(self.ips)} -> {self.eni_id}")
        return "; then ".join(parts)


@dataclass(frozen=True)
class ReplaceRoute:
    table_id: str
    destination: str
    eni_id: str
    previous: str

    def items(self) -> set[Item]:
        return {Item.route(self.table_id, self.destination)}

    def describe(self) -> str:
        return (
            f"replace-route {self.table_id} {self.destination} -> {self.eni_id} "
            f"(was {self.previous})"
        )


@dataclass(frozen=True)
class AssociateEip:
    """AssociateAddress(AllowReassociation=True) to our ENI and private address. after_vip:
    the private address is a VIP this plan moves, so the association waits for that move."""

    allocation_id: str
    public_ip: str
    eni_id: str
    private_ip: str
    previous: str
    after_vip: bool = False

    def items(self) -> set[Item]:
        return {Item.eip(self.allocation_id)}

    def describe(self) -> str:
        return (
            f"associate-address {self.allocation_id} ({self.public_ip}) -> {self.eni_id} "
            f"{self.private_ip} (was {self.previous})"
        )


Action = AssignPrivateIps | MoveIpv6 | ReplaceRoute | AssociateEip


@dataclass(frozen=True)
class Plan:
    instance: str
    eni_id: str
    actions: tuple[Action, ...]

    @property
    def converged(self) -> bool:
        return not self.actions


@dataclass
class Outcome:
    """What a takeover did: the operator's report, and the agent's metrics source."""

    instance: str
    eni_id: str
    planned: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    not_moved: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mutating_calls: int = 0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        return not self.not_moved and not self.errors

    # The one wording of an outcome, for the hook's line and the agent's log alike.
    def converged(self) -> str:
        calls = self.mutating_calls
        return (
            f"converged on {self.eni_id} in {self.seconds:.3f}s "
            f"({calls} mutating call{'' if calls == 1 else 's'})"
        )

    def shortfall(self) -> str:
        errors = f"; errors: {' | '.join(self.errors)}" if self.errors else ""
        return (
            f"failover to {self.eni_id} incomplete after {self.seconds:.1f}s; "
            f"moved: {', '.join(self.moved) or 'nothing'}; "
            f"NOT moved: {', '.join(self.not_moved) or '-'}{errors}"
        )
