"""Moving an IPv6 VIP: EC2 has no reassignment flag for IPv6, so a move is a release by the
holder and an assign here, with the address on no ENI in between. The two are one unit: a
newer transition may stop a move before the release, never between it and the assign, and
an assign that fails after the release gives the address back."""

from __future__ import annotations

import logging
from collections.abc import Callable

from awsfailover.aws.ec2 import Ec2
from awsfailover.core.backoff import IPV6_ASSIGN, Backoff
from awsfailover.core.deadline import CONFIRM_GRACE, Deadline
from awsfailover.core.model import MoveIpv6
from awsfailover.errors import PermanentError

__all__ = ["IPV6_IN_USE_CODES", "Guard", "Ipv6Mover", "no_guard"]

log = logging.getLogger(__name__)

Guard = Callable[[], None]


def no_guard() -> None:
    """The guard of a takeover nothing can overtake (an operator's, or one without a sequence)."""
    return None


# What AssignIpv6Addresses may answer while the address is still being released by its old
# holder. AWS documents neither; InvalidIPAddress.InUse is EC2's code for an address in use.
IPV6_IN_USE_CODES = frozenset({"InvalidIPAddress.InUse", "InvalidParameterValue"})


class Ipv6Mover:
    def __init__(self, ec2: Ec2) -> None:
        self.ec2 = ec2

    def move(self, action: MoveIpv6, deadline: Deadline, guard: Guard) -> None:
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
            try:
                self._assign_ipv6(action, deadline, check_holders=suspect)
            except PermanentError as err:
                if action.unassign or err.code not in IPV6_IN_USE_CODES:
                    raise
                # Planned as free (seen between another node's release and its assign), but
                # that node's assign landed since: take it from there, as one unit.
                taken = self._take_from_new_holder(action, deadline, guard)
                if taken is None:
                    raise
                released.append(taken)
        except Exception:
            if released:
                self._give_back(action, released, deadline)
            raise
        guard()  # the unit is done: a newer transition that came meanwhile is reported now

    def _take_from_new_holder(
        self, action: MoveIpv6, deadline: Deadline, guard: Guard
    ) -> tuple[str, tuple[str, ...]] | None:
        """Release the addresses from the one ENI that now holds them and assign them here;
        None when no single other ENI holds them all (then the refusal stands)."""
        ips = set(action.ips)
        holders = {
            e.eni_id for e in self.ec2.find_holders(list(ips), deadline) if ips & set(e.ipv6s)
        }
        if len(holders) != 1 or action.eni_id in holders:
            return None
        holder = holders.pop()
        guard()  # a release is a new step: a newer transition stops us before it
        self.ec2.unassign_ipv6(holder, list(action.ips), deadline)
        log.info("ipv6 %s taken over from %s, which assigned it meanwhile", ", ".join(ips), holder)
        again = MoveIpv6(action.eni_id, action.ips, ((holder, action.ips),))
        self._assign_ipv6(again, deadline, check_holders=False)
        return holder, action.ips

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
