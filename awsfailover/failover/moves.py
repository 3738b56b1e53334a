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
from concurrent.futures import Future

from awsfailover.aws.ec2 import Ec2
from awsfailover.core.backoff import ASSOCIATE, Backoff
from awsfailover.core.deadline import Deadline
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
from awsfailover.failover.ipv6 import IPV6_IN_USE_CODES, Guard, Ipv6Mover, no_guard

__all__ = ["IPV6_IN_USE_CODES", "Guard", "Moves", "no_guard"]

log = logging.getLogger(__name__)


class Moves:
    def __init__(self, ec2: Ec2, calls: Calls) -> None:
        self.ec2 = ec2
        self.calls = calls
        self.ipv6 = Ipv6Mover(ec2)

    def execute(
        self,
        inst: InstanceSpec,
        the_plan: Plan,
        deadline: Deadline,
        guard: Guard,
        out: Outcome,
        *,
        fence: int | None = None,
    ) -> tuple[Superseded | None, list[Action]]:
        """Run independent actions concurrently; errors go to the outcome. Returns what
        stopped us (if anything) and the actions that succeeded. fence: the arbiter's lease
        token, logged with each action made under it."""
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
                if fence is not None:
                    log.info("%s: %s: done (lease token %d)", inst.name, action.describe(), fence)
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
            self.ipv6.move(action, deadline, guard)
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
