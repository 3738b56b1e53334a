"""Making the moves a plan lists, one EC2 call (or a short sequence) per action.

Independent actions run concurrently; an Elastic IP that maps to a VIP this plan moves waits
for that move. Every mutating call passes the guard first, so a newer keepalived transition
stops a takeover between calls. Calls that EC2 may refuse while a previous one settles (an
IPv6 address still being released, an address not yet counted as ours) look before they
retry, and retry only within the deadline.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future

from awsfailover.aws.ec2 import Ec2
from awsfailover.core.backoff import ASSOCIATE, IPV6_ASSIGN, Backoff
from awsfailover.core.deadline import CONFIRM_GRACE, Deadline
from awsfailover.core.model import (
    Action,
    AssignPrivateIps,
    AssociateEip,
    MoveIpv6,
    Outcome,
    Plan,
    ReplaceRoute,
)
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import AwsError, PermanentError, Superseded
from awsfailover.failover.calls import Calls

__all__ = ["IPV6_IN_USE_CODES", "Guard", "Moves"]

log = logging.getLogger(__name__)

Guard = Callable[[], None]
# What AssignIpv6Addresses may answer while the address is still being released by its old
# holder. AWS documents neither; InvalidIPAddress.InUse is EC2's code for an address in use.
IPV6_IN_USE_CODES = frozenset({"InvalidIPAddress.InUse", "InvalidParameterValue"})


class Moves:
    def __init__(self, ec2: Ec2, calls: Calls) -> None:
        self.ec2 = ec2
        self.calls = calls

    def execute(
        self, inst: InstanceSpec, the_plan: Plan, deadline: Deadline, guard: Guard, out: Outcome
    ) -> tuple[Superseded | None, list[Action]]:
        """Run independent actions concurrently; errors go to the outcome. Returns what
        stopped us (if anything) and the actions that succeeded."""
        futures: dict[Action, Future[None]] = {}
        for a in the_plan.actions:
            if not (isinstance(a, AssociateEip) and a.after_vip):
                futures[a] = self.calls.submit(self._run, a, deadline, guard)
        moves = [f for a, f in futures.items() if isinstance(a, AssignPrivateIps)]
        for a in the_plan.actions:
            if isinstance(a, AssociateEip) and a.after_vip:
                # Same step as the VIP move, but behind it: EC2 refuses to map an Elastic IP
                # to an address the ENI does not hold yet.
                futures[a] = self.calls.submit(self._after, moves, a, deadline, guard)
        superseded: Superseded | None = None
        done: list[Action] = []
        for action, fut in futures.items():
            try:
                self.calls.wait(fut, deadline, action.describe())
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
                self.calls.wait(f, deadline, "the VIP move")
        self._run(action, deadline, guard)

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
        backoff = Backoff(ASSOCIATE)
        arrived = False  # refused once already while the address was ours
        while True:
            guard()
            try:
                self.ec2.associate_address(
                    action.allocation_id, action.eni_id, action.private_ip, deadline
                )
                return
            except PermanentError:
                if not action.after_vip or not backoff.fits(deadline):
                    raise
                held = self.ec2.describe_enis([action.eni_id], deadline)[action.eni_id]
                if action.private_ip in held.private_ipv4s:
                    # It may have arrived between the refusal and our look: one more try.
                    # Refused again while ours, the refusal is about something else.
                    if arrived:
                        raise
                    arrived = True
                    continue
                log.debug("%s not on %s yet; retrying", action.private_ip, action.eni_id)
                backoff.sleep()

    def _move_ipv6(self, action: MoveIpv6, deadline: Deadline, guard: Guard) -> None:
        """Unassign then assign, as one unit: IPv6 has no reassignment flag, so between the two
        the address is on no ENI. A newer transition may stop us before the first release,
        never between it and the assign (in hook-only mode nothing else would put the address
        back). An assign that fails after the release returns the address to its holders."""
        guard()
        released: list[tuple[str, tuple[str, ...]]] = []
        suspect = False
        try:
            for holder, held in action.unassign:
                try:
                    self.ec2.unassign_ipv6(holder, list(held), deadline)
                except PermanentError:
                    # A retried unassign whose first answer was lost meets an address already
                    # released, and AWS refuses it ("not mapped to interface"). Look instead
                    # of trusting an undocumented code: released is released.
                    if set(held) & set(self._ipv6_of(holder, deadline)):
                        raise
                    log.info("ipv6 %s already released by %s", ", ".join(held), holder)
                    suspect = True  # or never there: what we knew may be stale
                released.append((holder, held))
            self._assign_ipv6(action, deadline, check_holders=suspect)
        except Exception:
            if released:
                self._give_back(action, released, deadline)
            raise
        guard()  # the unit is done: a newer transition that came meanwhile is reported now

    def _assign_ipv6(self, action: MoveIpv6, deadline: Deadline, check_holders: bool) -> None:
        # The released address may still be "in use" for a moment. Retry the assign right
        # away, tightly, instead of polling Describe first: that keeps the gap as short as
        # the API allows.
        ips = list(action.ips)
        backoff = Backoff(IPV6_ASSIGN)
        while True:
            try:
                self.ec2.assign_ipv6(action.eni_id, ips, deadline)
                return
            except PermanentError as err:
                # Look first: our own assign whose answer was lost left the address here, and
                # EC2 then calls it in use too.
                if set(ips) <= set(self._ipv6_of(action.eni_id, deadline)):
                    return
                in_use = action.unassign and err.code in IPV6_IN_USE_CODES
                if in_use and check_holders:
                    # the holder we released from did not hold it: if another ENI does, no
                    # retry will help (the caller then observes afresh)
                    check_holders = False
                    self._refuse_if_held_elsewhere(action, deadline, err)
                if not in_use or not backoff.fits(deadline):
                    raise
                log.debug("ipv6 %s still held elsewhere; retrying in %.2fs", ips, backoff.delay)
                backoff.sleep()

    def _refuse_if_held_elsewhere(
        self, action: MoveIpv6, deadline: Deadline, err: PermanentError
    ) -> None:
        ips = set(action.ips)
        mine = {action.eni_id} | {h for h, _ in action.unassign}
        others = {
            e.eni_id for e in self.ec2.find_holders(list(ips), deadline) if ips & set(e.ipv6s)
        }
        if others - mine:
            raise PermanentError(
                "AssignIpv6Addresses",
                err.code,
                f"{', '.join(sorted(ips))} is held by {', '.join(sorted(others - mine))}, not by "
                "the ENI it was to be released from",
                action.eni_id,
            )

    def _give_back(
        self, action: MoveIpv6, released: list[tuple[str, tuple[str, ...]]], deadline: Deadline
    ) -> None:
        """The assign failed after the release: put each address that no ENI holds back where
        it was, so no VIP is left on no ENI. One a newer master took meanwhile is left to it;
        one still listed on its holder is a release in flight (EC2's unassign is asynchronous):
        wait for it to land, then give it back. Past the deadline too, within CONFIRM_GRACE."""
        grace = deadline.extended(CONFIRM_GRACE)
        for holder, held in released:
            try:
                self._return(holder, list(held), grace)
            except Exception as exc:
                log.error(
                    "ipv6 %s MAY BE ON NO ENI: assign to %s failed after the release, and "
                    "returning it to %s failed too (%s)",
                    ", ".join(held),
                    action.eni_id,
                    holder,
                    exc,
                )

    def _return(self, holder: str, pending: list[str], grace: Deadline) -> None:
        backoff = Backoff(IPV6_ASSIGN)
        while pending:
            taken = {
                ip: eni.eni_id
                for eni in self.ec2.find_holders(pending, grace)
                for ip in eni.ipv6s
                if ip in pending
            }
            elsewhere = [ip for ip in pending if taken.get(ip, holder) != holder]
            if elsewhere:
                log.info("ipv6 %s taken by another ENI meanwhile: not returned", elsewhere)
            free = [ip for ip in pending if ip not in taken]
            if free:
                self.ec2.assign_ipv6(holder, free, grace)
                log.warning("ipv6 %s returned to %s after a failed move", ", ".join(free), holder)
            pending = [ip for ip in pending if taken.get(ip) == holder]  # release in flight
            if pending and not backoff.fits(grace):
                raise TimeoutError(f"{', '.join(pending)} still being released by {holder}")
            if pending:
                backoff.sleep()

    def _ipv6_of(self, eni_id: str, deadline: Deadline) -> tuple[str, ...]:
        return self.ec2.describe_enis([eni_id], deadline)[eni_id].ipv6s
