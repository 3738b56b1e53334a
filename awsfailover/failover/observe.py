"""Observing EC2 for a takeover: what our ENIs, the holders of our VIPs, the selected route
tables and the Elastic IPs look like right now, as one `Observed` per instance.

`observe` serves one instance in at most two rounds of concurrent Describe calls (one once the
subnet is cached); `observe_all` serves the reconcile loop, every instance from two or three.
Our ENIs' subnets and VPCs, and a subnet's CIDRs, do not change under us: they are cached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future

from awsfailover.aws.ec2 import Ec2
from awsfailover.config.compact import FailoverConfig
from awsfailover.core.deadline import Deadline
from awsfailover.core.model import EipState, Eni, Observed, RouteTable, Subnet
from awsfailover.core.spec import InstanceSpec
from awsfailover.core.tables import select_tables
from awsfailover.errors import ConfigError
from awsfailover.failover.auto_routes import AutoRoutes
from awsfailover.failover.calls import Calls

__all__ = ["Observer"]


class Observer:
    def __init__(
        self,
        settings: FailoverConfig,
        ec2: Ec2,
        calls: Calls,
        node_eni: str,
        eni_of: Callable[[InstanceSpec], str],
    ) -> None:
        self.settings = settings
        self.ec2 = ec2
        self.calls = calls
        self.eni_id = node_eni
        self.eni_of = eni_of
        self.auto = AutoRoutes(settings, eni_of, node_eni)
        self._subnets: dict[str, Subnet] = {}
        self._local: dict[str, Eni] = {}
        self._eni_subnets: dict[str, str] = {}  # ENI -> its subnet, for routes = "auto"
        # instance -> (time.monotonic(), what the last observation saw): an agent's warm state
        self._last: dict[str, tuple[float, Observed]] = {}
        # (instance type, IPv4 addresses per ENI), once learnt: the planner's room check
        self.ipv4_limit: tuple[str, int] | None = None

    def remember(self, name: str, observed: Observed) -> Observed:
        self._last[name] = (time.monotonic(), observed)
        return observed

    def warm(self, name: str, max_age: float) -> tuple[float, Observed] | None:
        """(age in seconds, the last observation of the instance) when younger than max_age:
        what an act-first takeover plans from."""
        last = self._last.get(name)
        if last is None or time.monotonic() - last[0] > max_age:
            return None
        return time.monotonic() - last[0], last[1]

    def observe(self, inst: InstanceSpec, deadline: Deadline) -> Observed:
        """Two rounds of concurrent Describe calls at most; one when the subnet is cached."""
        ours = self.eni_of(inst)
        known = self._local.get(ours)
        local_f = self.calls.submit(self.ec2.describe_enis, [ours], deadline)
        holders_fs = [
            self.calls.submit(
                self.ec2.find_holders,
                list(family),
                deadline,
                known.vpc_id if known is not None else None,
            )
            for family in (inst.ipv4_vips, inst.ipv6_vips)
            if family
        ]
        roles_f: Future[dict[str, Eni]] | None = None
        unknown = [e for e in self.settings.group.enis if e not in self._eni_subnets]
        if unknown and self.auto.needs_roles(inst):
            # once per ENI: an ENI never changes subnet (one missing is simply not a role's)
            roles_f = self.calls.submit(self.ec2.describe_enis, unknown, deadline, missing_ok=True)
        eips_f: Future[dict[str, EipState]] | None = None
        if inst.eips:
            eips_f = self.calls.submit(
                self.ec2.describe_addresses,
                [e.allocation_id for e in inst.eips],
                deadline,
                missing_ok=True,  # a released one fails its own item, not the takeover
            )
        tables_f: Future[dict[str, RouteTable]] | None = None
        if inst.routes and inst.route_tables is not None:
            tables_f = self.calls.submit(
                self.ec2.describe_route_tables, deadline, table_ids=list(inst.route_tables)
            )
        elif inst.routes and inst.subnet_ids is not None:
            tables_f = self.calls.submit(
                self.ec2.describe_route_tables, deadline, subnet_ids=list(inst.subnet_ids)
            )
        local = self.calls.wait(local_f, deadline, "DescribeNetworkInterfaces")[ours]
        if tables_f is None and inst.routes:
            tables_f = self.calls.submit(
                self.ec2.describe_route_tables, deadline, subnet_ids=[local.subnet_id]
            )
        subnet = self._subnets.get(local.subnet_id)
        if subnet is None:
            subnet_f = self.calls.submit(self.ec2.describe_subnet, local.subnet_id, deadline)
            subnet = self.calls.wait(subnet_f, deadline, "DescribeSubnets")
            self._subnets[local.subnet_id] = subnet
        self._local.setdefault(ours, local)  # its VPC narrows the next holder queries
        holders: dict[str, Eni] = {}
        for f in holders_fs:
            found: list[Eni] = self.calls.wait(f, deadline, "DescribeNetworkInterfaces")
            for eni in found:
                if eni.vpc_id != local.vpc_id:
                    continue  # the same address in another VPC is another address
                for addr in (*eni.private_ipv4s, *eni.ipv6s):
                    if addr in inst.vips:
                        holders[addr] = eni
        # Our own view of our ENI is the freshest: trust it for our addresses.
        for addr in (*local.private_ipv4s, *local.ipv6s):
            if addr in inst.vips:
                holders[addr] = local
        tables = (
            select_tables(
                inst, self.calls.wait(tables_f, deadline, "DescribeRouteTables"), local.subnet_id
            )
            if tables_f is not None
            else {}
        )
        eips = self.calls.wait(eips_f, deadline, "DescribeAddresses") if eips_f is not None else {}
        if roles_f is not None:
            roles = self.calls.wait(roles_f, deadline, "DescribeNetworkInterfaces")
            self._eni_subnets.update({e: eni.subnet_id for e, eni in roles.items()})
        self._eni_subnets[local.eni_id] = local.subnet_id
        auto_enis, claimed = self.auto.select(inst, local, self._eni_subnets)
        return self.remember(
            inst.name,
            Observed(
                local=local,
                subnet=subnet,
                holders=holders,
                tables=tables,
                ipv4_limit=self.ipv4_limit,
                eips=eips,
                auto_enis=auto_enis,
                claimed=claimed,
            ),
        )

    def observe_all(self, instances: list[InstanceSpec], deadline: Deadline) -> dict[str, Observed]:
        """Every instance from two Describe calls (the reconcile loop's budget), three with
        Elastic IPs: all ENIs of our subnets (VIPs can only live there), all route tables of
        our VPCs, and the configured Elastic IPs. Every call runs on the pool and every wait
        is bounded by the deadline: a trickling endpoint cannot hold the reconcile."""
        wait = self.calls.wait
        ours = sorted({self.eni_of(i) for i in instances} | {self.eni_id})
        if any(e not in self._local for e in ours):
            local_f = self.calls.submit(self.ec2.describe_enis, ours, deadline)
            found: dict[str, Eni] = wait(local_f, deadline, "DescribeNetworkInterfaces")
            self._local.update(found)
        subnet_ids = sorted({self._local[e].subnet_id for e in ours})
        vpc_ids = sorted({self._local[e].vpc_id for e in ours})
        subnet_fs = {
            sid: self.calls.submit(self.ec2.describe_subnet, sid, deadline)
            for sid in subnet_ids
            if sid not in self._subnets
        }
        for sid, f in subnet_fs.items():
            self._subnets[sid] = wait(f, deadline, "DescribeSubnets")
        enis_f = self.calls.submit(self.ec2.describe_subnet_enis, subnet_ids, deadline)
        tables_f = (
            self.calls.submit(self.ec2.describe_vpc_route_tables, vpc_ids, deadline)
            if any(i.routes for i in instances)
            else None
        )
        allocs = [e.allocation_id for i in instances for e in i.eips]
        eips_f = (
            self.calls.submit(self.ec2.describe_addresses, allocs, deadline, missing_ok=True)
            if allocs
            else None
        )
        enis = wait(enis_f, deadline, "DescribeNetworkInterfaces")
        all_tables = wait(tables_f, deadline, "DescribeRouteTables") if tables_f else {}
        all_eips = wait(eips_f, deadline, "DescribeAddresses") if eips_f else {}
        by_id = {e.eni_id: e for e in enis}
        subnet_of = {e.eni_id: e.subnet_id for e in enis}
        for e in ours:
            if e not in by_id:
                raise ConfigError(f"{e} is no longer in {self._local[e].subnet_id}")
            self._local[e] = by_id[e]
        out = {}
        for inst in instances:
            local = by_id[self.eni_of(inst)]
            holders = {}
            for eni in enis:
                if eni.vpc_id != local.vpc_id:
                    continue
                for addr in (*eni.private_ipv4s, *eni.ipv6s):
                    if addr in inst.vips and (addr not in holders or eni is local):
                        holders[addr] = eni
            tables = select_tables(inst, all_tables, local.subnet_id) if inst.routes else {}
            # every ENI of our subnets was read: a group ENI not among them is in none of them
            auto_enis, claimed = self.auto.select(inst, local, subnet_of)
            out[inst.name] = self.remember(
                inst.name,
                Observed(
                    local=local,
                    subnet=self._subnets[local.subnet_id],
                    holders=holders,
                    tables=tables,
                    ipv4_limit=self.ipv4_limit,
                    # a missing one fails this instance's plan (check_eips), not the reconcile
                    eips={
                        e.allocation_id: all_eips[e.allocation_id]
                        for e in inst.eips
                        if e.allocation_id in all_eips
                    },
                    auto_enis=auto_enis,
                    claimed=claimed,
                ),
            )
        return out
