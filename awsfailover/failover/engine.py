"""The failover engine: observe -> plan (pure) -> execute -> verify.

Used the same way by the hook, `takeover`, `status` and the agent. The EC2 layer is injected.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from awsfailover.aws.ec2 import CallObserver, Ec2
from awsfailover.config.schema import Settings
from awsfailover.core.deadline import Deadline
from awsfailover.core.items import Item
from awsfailover.core.model import (
    Action,
    AssignPrivateIps,
    AssociateEip,
    EipState,
    Eni,
    MoveIpv6,
    Observed,
    Outcome,
    Plan,
    ReplaceRoute,
    RouteTable,
    Subnet,
)
from awsfailover.core.plan import item_names, items_at
from awsfailover.core.plan import plan as make_plan
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import (
    AwsError,
    ConfigError,
    PermanentError,
    Superseded,
    TransientError,
)

if TYPE_CHECKING:
    from awsfailover.aws.imds import Imds

log = logging.getLogger(__name__)

Guard = Callable[[], None]
T = TypeVar("T")
CONFIRM_GRACE = 0.8  # seconds the confirmation may run past the deadline
WAIT_GRACE = 0.2  # seconds a call's result is awaited past the deadline
REPLAN_AFTER = 1.0  # seconds of confirming before acting again on what is still not ours
MAX_ROUNDS = 3  # act, confirm, act again: bounded, a split brain must not spin here
METADATA_TIMEOUT = 0.3  # seconds per IMDS request: on the same host it answers in ~1 ms
# What AssignIpv6Addresses may answer while the address is still being released by its old
# holder. AWS documents neither; InvalidIPAddress.InUse is EC2's code for an address in use.
IPV6_IN_USE_CODES = frozenset({"InvalidIPAddress.InUse", "InvalidParameterValue"})


def _no_guard() -> None:
    return None


@dataclass(frozen=True)
class Node:
    region: str
    eni_id: str


class NodeFacts:
    """This node's Region and ENIs: from the config, else the environment, else IMDSv2, with
    one metadata session (one token) and one lookup per interface however many ask."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._imds: Imds | None = None
        self._by_interface: dict[str, str] = {}

    def _metadata(self) -> Imds:
        if self._imds is None:
            from awsfailover.aws.imds import Imds

            self._imds = Imds()
        return self._imds

    def region(self) -> str:
        s = self.settings
        region = s.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return region or self._metadata().region()

    def eni_of(self, interface: str, key: str) -> str:
        if interface not in self._by_interface:
            from awsfailover.aws.imds import interface_mac

            eni_id = self._metadata().eni_for_mac(interface_mac(interface))
            log.info("%s %s is %s (from instance metadata)", key, interface, eni_id)
            self._by_interface[interface] = eni_id
        return self._by_interface[interface]

    def node_eni(self) -> str:
        """node.eni_id, else the ENI of node.interface."""
        return self.settings.node.eni_id or self.eni_of(
            self.settings.node.interface, "node.interface"
        )

    def instance_enis(self, instances: list[InstanceSpec]) -> dict[str, str]:
        """The ENI of each instance that names its own (a multi-NIC node): eni_id, else the
        ENI of its interface by MAC."""
        out: dict[str, str] = {}
        for inst in instances:
            if inst.eni_id:
                out[inst.name] = inst.eni_id
            elif inst.interface:
                out[inst.name] = self.eni_of(inst.interface, f"instances.{inst.name}.interface")
        return out


def resolve_node(settings: Settings) -> Node:
    """Region and this node's ENI: from the config, else the environment, else IMDSv2."""
    facts = NodeFacts(settings)
    return Node(facts.region(), facts.node_eni())


def build_engine(
    settings: Settings,
    observer: CallObserver | None = None,
    instances: list[InstanceSpec] | None = None,
) -> Engine:
    """Resolve this node, build the EC2 client with the failover timeouts, wrap it. Only the
    ENIs of `instances` (default: all) are resolved: the hook looks up its own only."""
    from awsfailover.aws.ec2 import make_ec2_client

    needed = [i.spec for i in settings.instances] if instances is None else instances
    facts = NodeFacts(settings)
    region = facts.region()
    enis = facts.instance_enis(needed)
    if settings.node.eni_id or not needed or any(i.name not in enis for i in needed):
        eni_id = facts.node_eni()
    else:
        eni_id = enis[needed[0].name]  # every instance names its own: no lookup for the node
    f = settings.failover
    client = make_ec2_client(
        region,
        settings.endpoint_url,
        connect_timeout=min(f.connect_timeout, f.deadline),
        read_timeout=min(f.read_timeout, f.deadline),
        max_pool_connections=f.max_concurrency + 4,
    )
    return Engine(settings, Ec2(client, observer), eni_id, enis)


def select_tables(
    inst: InstanceSpec, all_tables: dict[str, RouteTable], local_subnet: str
) -> dict[str, RouteTable]:
    """The tables an instance acts on, from whatever listing was fetched (by id, by subnet
    filter, or the whole VPC): explicit associations only, never the main table."""
    if inst.route_tables is not None:
        missing = [t for t in inst.route_tables if t not in all_tables]
        if missing:
            raise ConfigError(
                f"instances.{inst.name}.route_tables: {', '.join(missing)} "
                "does not exist in this node's VPC"
            )
        return {t: all_tables[t] for t in inst.route_tables}
    subnets = inst.subnet_ids if inst.subnet_ids is not None else [local_subnet]
    chosen = {k: t for k, t in all_tables.items() if set(t.explicit_subnets) & set(subnets)}
    for s in subnets:
        if not any(s in t.explicit_subnets for t in chosen.values()):
            raise ConfigError(
                f"subnet {s} has no explicitly associated route table "
                "(the main route table is never used implicitly)"
            )
    return chosen


class Engine:
    def __init__(
        self, settings: Settings, ec2: Ec2, eni_id: str, enis: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.ec2 = ec2
        self.eni_id = eni_id  # the node's ENI: every instance's unless it names its own
        self._enis = dict(enis or {})  # instance name -> its own ENI (multi-NIC node)
        self._subnets: dict[str, Subnet] = {}  # a subnet's CIDRs do not change under us
        self._local: dict[str, Eni] = {}  # our ENIs' subnets and VPCs do not change either
        workers = settings.failover.max_concurrency
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ec2")
        self._macs: dict[str, str | None] = {}  # ENI -> its MAC in instance metadata
        self.ipv4_limit: tuple[str, int] | None = None  # see learn_ipv4_limit
        self._imds: Imds | Literal[False] | None = None
        self._users_lock = threading.Lock()
        self._users = 0
        self._retired = False

    def eni_of(self, inst: InstanceSpec) -> str:
        """The ENI inst moves to: its own (multi-NIC node), else the node's."""
        return self._enis.get(inst.name) or inst.eni_id or self.eni_id

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def learn_ipv4_limit(self, deadline: Deadline) -> None:
        """Look up our instance type's addresses per ENI once (two Describe calls), so the
        planner refuses an impossible move at plan time. The agent does it at start; the hook
        does not pay for it (AWS's own PrivateIpAddressLimitExceeded is reported clearly)."""
        try:
            self.ipv4_limit = self.ec2.ipv4_limit(self.eni_id, deadline)
        except AwsError as exc:
            log.info(
                "instance type of %s not known (%s); no plan-time address check", self.eni_id, exc
            )

    # The agent swaps engines on reload; a takeover holding the old one must finish with it.
    def acquire(self) -> Engine:
        with self._users_lock:
            self._users += 1
            return self

    def release(self) -> None:
        with self._users_lock:
            self._users -= 1
            done = self._retired and self._users == 0
        if done:
            self.close()

    def retire(self) -> None:
        """Close once the last user releases (now, if there is none)."""
        with self._users_lock:
            self._retired = True
            done = self._users == 0
        if done:
            self.close()

    @staticmethod
    def _wait(fut: Future[T], deadline: Deadline, what: str) -> T:
        """A result within the deadline, or a transient error: a call stuck on an endpoint
        that trickles its answer must not hold the takeover past its deadline. A little past
        it (WAIT_GRACE, measured from the deadline, so waits in a row do not add up): the
        retry loop's own last error says more than a timeout."""
        try:
            left = deadline.end + WAIT_GRACE - time.monotonic()
            return fut.result(timeout=max(0.0, left))
        except FutureTimeout:
            fut.cancel()
            raise TransientError(
                what, "DeadlineExceeded", "no answer within the deadline"
            ) from None

    # --- observe -------------------------------------------------------------------------

    def _auto(self, inst: InstanceSpec) -> tuple[frozenset[str], frozenset[str]]:
        """(group ENIs, destinations other instances list) for routes = "auto"."""
        if not inst.auto_routes:
            return frozenset(), frozenset()
        claimed = {d for i in self.settings.specs if i.name != inst.name for d in i.explicit_routes}
        return frozenset(self.settings.group.enis), frozenset(claimed)

    def observe(self, inst: InstanceSpec, deadline: Deadline) -> Observed:
        """Two rounds of concurrent Describe calls at most; one when the subnet is cached."""
        ours = self.eni_of(inst)
        known = self._local.get(ours)
        local_f = self._pool.submit(self.ec2.describe_enis, [ours], deadline)
        holders_fs = [
            self._pool.submit(
                self.ec2.find_holders,
                list(family),
                deadline,
                known.vpc_id if known is not None else None,
            )
            for family in (inst.ipv4_vips, inst.ipv6_vips)
            if family
        ]
        eips_f: Future[dict[str, EipState]] | None = None
        if inst.eips:
            eips_f = self._pool.submit(
                self.ec2.describe_addresses, [e.allocation_id for e in inst.eips], deadline
            )
        tables_f: Future[dict[str, RouteTable]] | None = None
        if inst.routes and inst.route_tables is not None:
            tables_f = self._pool.submit(
                self.ec2.describe_route_tables, deadline, table_ids=list(inst.route_tables)
            )
        elif inst.routes and inst.subnet_ids is not None:
            tables_f = self._pool.submit(
                self.ec2.describe_route_tables, deadline, subnet_ids=list(inst.subnet_ids)
            )
        local = self._wait(local_f, deadline, "DescribeNetworkInterfaces")[ours]
        if tables_f is None and inst.routes:
            tables_f = self._pool.submit(
                self.ec2.describe_route_tables, deadline, subnet_ids=[local.subnet_id]
            )
        subnet = self._subnets.get(local.subnet_id)
        if subnet is None:
            subnet_f = self._pool.submit(self.ec2.describe_subnet, local.subnet_id, deadline)
            subnet = self._wait(subnet_f, deadline, "DescribeSubnets")
            self._subnets[local.subnet_id] = subnet
        self._local.setdefault(ours, local)  # its VPC narrows the next holder queries
        holders: dict[str, Eni] = {}
        for f in holders_fs:
            found: list[Eni] = self._wait(f, deadline, "DescribeNetworkInterfaces")
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
                inst, self._wait(tables_f, deadline, "DescribeRouteTables"), local.subnet_id
            )
            if tables_f is not None
            else {}
        )
        eips = self._wait(eips_f, deadline, "DescribeAddresses") if eips_f is not None else {}
        auto_enis, claimed = self._auto(inst)
        return Observed(
            local=local,
            subnet=subnet,
            holders=holders,
            tables=tables,
            ipv4_limit=self.ipv4_limit,
            eips=eips,
            auto_enis=auto_enis,
            claimed=claimed,
        )

    def observe_all(self, instances: list[InstanceSpec], deadline: Deadline) -> dict[str, Observed]:
        """Every instance from two Describe calls (the reconcile loop's budget), three with
        Elastic IPs: all ENIs of our subnets (VIPs can only live there), all route tables of
        our VPCs, and the configured Elastic IPs."""
        ours = sorted({self.eni_of(i) for i in instances} | {self.eni_id})
        if any(e not in self._local for e in ours):
            self._local.update(self.ec2.describe_enis(ours, deadline))
        subnet_ids = sorted({self._local[e].subnet_id for e in ours})
        vpc_ids = sorted({self._local[e].vpc_id for e in ours})
        for sid in subnet_ids:
            if sid not in self._subnets:
                self._subnets[sid] = self.ec2.describe_subnet(sid, deadline)
        enis_f = self._pool.submit(self.ec2.describe_subnet_enis, subnet_ids, deadline)
        tables_f = (
            self._pool.submit(self.ec2.describe_vpc_route_tables, vpc_ids, deadline)
            if any(i.routes for i in instances)
            else None
        )
        allocs = [e.allocation_id for i in instances for e in i.eips]
        eips_f = (
            self._pool.submit(self.ec2.describe_addresses, allocs, deadline, missing_ok=True)
            if allocs
            else None
        )
        enis = enis_f.result()
        all_tables = tables_f.result() if tables_f is not None else {}
        all_eips = eips_f.result() if eips_f is not None else {}
        by_id = {e.eni_id: e for e in enis}
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
            auto_enis, claimed = self._auto(inst)
            out[inst.name] = Observed(
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
            )
        return out

    def plan(self, inst: InstanceSpec, deadline: Deadline) -> tuple[Plan, Observed]:
        observed = self.observe(inst, deadline)
        return make_plan(inst, observed), observed

    # --- execute -------------------------------------------------------------------------

    def _run(self, action: Action, deadline: Deadline, guard: Guard) -> None:
        if isinstance(action, AssignPrivateIps):
            guard()
            self.ec2.assign_private_ips(action.eni_id, list(action.ips), deadline)
        elif isinstance(action, MoveIpv6):
            self._move_ipv6(action, deadline, guard)
        elif isinstance(action, ReplaceRoute):
            guard()
            self.ec2.replace_route(action.table_id, action.destination, action.eni_id, deadline)
        elif isinstance(action, AssociateEip):
            self._associate(action, deadline, guard)

    def _associate(self, action: AssociateEip, deadline: Deadline, guard: Guard) -> None:
        """AssociateAddress(AllowReassociation) is idempotent: a retry after a lost answer is
        harmless. When the private address is a VIP this plan moved, EC2 may not count it as
        ours for a moment (the move is asynchronous) and refuses the association: look, and
        retry while the address is still on its way, within the deadline."""
        delay = 0.05
        while True:
            guard()
            try:
                self.ec2.associate_address(
                    action.allocation_id, action.eni_id, action.private_ip, deadline
                )
                return
            except PermanentError:
                held = self.ec2.describe_enis([action.eni_id], deadline)[action.eni_id]
                if (
                    not action.after_vip
                    or action.private_ip in held.private_ipv4s
                    or deadline.remaining() < delay
                ):
                    raise
                log.debug("%s not on %s yet; retrying", action.private_ip, action.eni_id)
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def _move_ipv6(self, action: MoveIpv6, deadline: Deadline, guard: Guard) -> None:
        ips = list(action.ips)
        for holder, held in action.unassign:
            guard()
            try:
                self.ec2.unassign_ipv6(holder, list(held), deadline)
            except PermanentError:
                # A retried unassign whose first answer was lost meets an address already
                # released, and AWS refuses it ("not mapped to interface"). Look instead of
                # trusting an undocumented code: released is released.
                if set(held) & set(self._ipv6_of(holder, deadline)):
                    raise
                log.info("ipv6 %s already released by %s", ", ".join(held), holder)
        # IPv6 has no reassignment flag: the released address may still be "in use" for a
        # moment. Retry the assign right away, tightly, instead of polling Describe first:
        # that keeps the gap as short as the API allows.
        delay = 0.02
        while True:
            guard()
            try:
                self.ec2.assign_ipv6(action.eni_id, ips, deadline)
                return
            except PermanentError as err:
                # Look first: our own assign whose answer was lost left the address here, and
                # EC2 then calls it in use too.
                if set(ips) <= set(self._ipv6_of(action.eni_id, deadline)):
                    return
                in_use = action.unassign and err.code in IPV6_IN_USE_CODES
                if not in_use or deadline.remaining() < delay:
                    raise
                log.debug("ipv6 %s still held elsewhere; retrying in %.2fs", ips, delay)
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    def _ipv6_of(self, eni_id: str, deadline: Deadline) -> tuple[str, ...]:
        return self.ec2.describe_enis([eni_id], deadline)[eni_id].ipv6s

    def takeover(
        self,
        inst: InstanceSpec,
        deadline: Deadline,
        guard: Guard = _no_guard,
    ) -> Outcome:
        """Converge inst onto this node; never raises for a partial result, reports it."""
        the_plan, observed = self.plan(inst, deadline)
        ours = self.eni_of(inst)
        outcome = Outcome(instance=inst.name, eni_id=ours)
        outcome.planned = [a.describe() for a in the_plan.actions]
        items = item_names(inst, observed)
        if the_plan.converged:
            outcome.seconds = deadline.elapsed()
            log.info("%s: already converged on %s; no change", inst.name, ours)
            return outcome
        for line in outcome.planned:
            log.info("%s: %s", inst.name, line)

        issued = itertools.count()

        def counted_guard() -> None:
            guard()
            next(issued)  # every mutating call passes here once, retries aside

        # The confirmation may run a little past the deadline (an unconfirmed success would be
        # reported as a failure), never more than CONFIRM_GRACE: every takeover ends within
        # deadline + 1 s, whatever the endpoint does.
        grace = Deadline(max(0.0, deadline.end + CONFIRM_GRACE - time.monotonic()))
        superseded: Superseded | None = None
        final: Observed | None = None
        for round_ in range(1, MAX_ROUNDS + 1):
            superseded, done = self._execute(inst, the_plan, deadline, counted_guard, outcome)
            # With an action failed, the ones that succeeded are still confirmed (a slow move
            # must not be reported as not moved); with none failed, the whole plan is.
            want = {i for a in done for i in a.items()} if outcome.errors else None
            final = self._confirm(inst, deadline, grace, want, wait=superseded is None)
            if outcome.errors or superseded is not None or final is None or deadline.expired():
                break
            again = make_plan(inst, final)
            if again.converged or round_ == MAX_ROUNDS:
                break
            # Still not ours REPLAN_AFTER after acting: either the move is slow, or a call of
            # the previous master, in flight when keepalived demoted it, landed after ours.
            # Acting again is idempotent, and leaves EC2 on the node keepalived chose last.
            log.warning(
                "%s: not converged after round %d; acting again: %s",
                inst.name,
                round_,
                "; ".join(a.describe() for a in again.actions),
            )
            the_plan = again
            grace = Deadline(max(0.0, deadline.end + CONFIRM_GRACE - time.monotonic()))
        at_ours = items_at(inst, final, ours) if final is not None else set()
        before_items = items_at(inst, observed, ours)
        if superseded is None:
            at_ours -= self._not_in_metadata(ours, inst, at_ours - before_items, grace)
        outcome.moved = [str(i) for i in sorted(at_ours - before_items)]
        outcome.not_moved = [str(i) for i in items if i not in at_ours]
        outcome.seconds = deadline.elapsed()
        outcome.mutating_calls = next(issued)
        if superseded is not None:
            log.warning(
                "%s: stopped, %s; moved so far: %s",
                inst.name,
                superseded,
                ", ".join(outcome.moved) or "nothing",
            )
            raise superseded
        return outcome

    def _execute(
        self, inst: InstanceSpec, the_plan: Plan, deadline: Deadline, guard: Guard, out: Outcome
    ) -> tuple[Superseded | None, list[Action]]:
        """Run independent actions concurrently; errors go to the outcome. Returns what
        stopped us (if anything) and the actions that succeeded."""
        futures: dict[Action, Future[None]] = {}
        for a in the_plan.actions:
            if not (isinstance(a, AssociateEip) and a.after_vip):
                futures[a] = self._pool.submit(self._run, a, deadline, guard)
        moves = [f for a, f in futures.items() if isinstance(a, AssignPrivateIps)]
        for a in the_plan.actions:
            if isinstance(a, AssociateEip) and a.after_vip:
                # Same step as the VIP move, but behind it: EC2 refuses to map an Elastic IP
                # to an address the ENI does not hold yet.
                futures[a] = self._pool.submit(self._after, moves, a, deadline, guard)
        superseded: Superseded | None = None
        done: list[Action] = []
        for action, fut in futures.items():
            try:
                self._wait(fut, deadline, action.describe())
                done.append(action)
            except Superseded as exc:
                superseded = exc
            except AwsError as exc:
                out.errors.append(str(exc))
                log.error("%s: %s failed: %s", inst.name, action.describe(), exc)
        return superseded, done

    def _after(
        self, first: list[Future[None]], action: Action, deadline: Deadline, guard: Guard
    ) -> None:
        for f in first:
            with contextlib.suppress(Exception):  # reported through the move's own future
                self._wait(f, deadline, "the VIP move")
        self._run(action, deadline, guard)

    def _not_in_metadata(
        self, eni_id: str, inst: InstanceSpec, moved: set[Item], until: Deadline
    ) -> set[Item]:
        """AWS documents instance metadata on the new owner as where a moved address is
        confirmed, and it lags the API: poll local-ipv4s/ipv6s of our MAC until every VIP we
        moved is there, bounded by the confirmation deadline. The items still missing; none
        when this node has no instance metadata (not on EC2, or IMDS blocked)."""
        vips = {i.key for i in moved if i.kind == "vip"}
        delay = 0.05
        while vips:
            seen = self._metadata_addresses(eni_id)
            if seen is None:
                return set()
            missing = vips - seen
            if not missing:
                return set()
            if until.remaining() < delay:
                log.error(
                    "%s: %s not in this node's instance metadata yet",
                    inst.name,
                    ", ".join(sorted(missing)),
                )
                return {Item.vip(v) for v in missing}
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        return set()

    def _metadata_addresses(self, eni_id: str) -> set[str] | None:
        """eni_id's addresses in this instance's metadata, or None when there is no metadata
        to ask (decided once per engine: a node without IMDS must not pay for it every
        takeover). The MAC is found by ENI, not by OS interface: on a multi-NIC node each
        instance confirms on its own ENI."""
        if self._imds is False:
            return None
        from awsfailover.aws.imds import Imds
        from awsfailover.errors import MetadataError

        try:
            if self._imds is None:
                self._imds = Imds(timeout=METADATA_TIMEOUT)
            imds = self._imds
            if eni_id not in self._macs:
                self._macs[eni_id] = imds.mac_for_eni(eni_id)
            mac = self._macs[eni_id]
            if mac is None:
                log.info("%s is not an ENI of this instance in its metadata", eni_id)
                return None
            base = f"network/interfaces/macs/{mac}/"
            v4 = imds.get(base + "local-ipv4s").split()
            v6 = imds.get(base + "ipv6s", missing_ok=True).split()
        except MetadataError as exc:
            log.info("instance metadata unavailable (%s): confirming through the API only", exc)
            self._imds = False
            return None
        return {str(ipaddress.ip_address(a)) for a in (*v4, *v6)}

    def _confirm(
        self,
        inst: InstanceSpec,
        deadline: Deadline,
        grace: Deadline,
        want: set[Item] | None,
        wait: bool,
    ) -> Observed | None:
        """Poll until the asynchronous moves show up (the whole plan converged, or the items
        in want are ours), with backoff, bounded by the deadline (by the grace period once
        the deadline has passed)."""
        delay = 0.05
        last: Observed | None = None
        # With nothing failed, come back after REPLAN_AFTER so the caller can act again on
        # what is still not ours; with a failure there is no next round: wait it out.
        replan_at = time.monotonic() + (REPLAN_AFTER if want is None else deadline.seconds)
        while True:
            try:
                last = self.observe(inst, deadline if not deadline.expired() else grace)
            except AwsError as exc:
                log.warning("%s: confirmation describe failed: %s", inst.name, exc)
            if last is not None and (
                make_plan(inst, last).converged
                if want is None
                else want <= items_at(inst, last, self.eni_of(inst))
            ):
                return last
            if not wait or deadline.remaining() < delay or time.monotonic() >= replan_at:
                return last
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
