"""The failover engine: observe -> plan (pure) -> execute -> confirm, in rounds.

Used the same way by the hook, `takeover`, `status` and the agent. The EC2 layer is injected;
observing, making the moves and confirming them are its collaborators (observe, moves,
confirm), sharing one thread pool (calls).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable

from awsfailover.aws.clients import CallObserver
from awsfailover.aws.ec2 import Ec2
from awsfailover.aws.node import NodeFacts
from awsfailover.config.compact import FailoverConfig
from awsfailover.core.deadline import CONFIRM_GRACE, Deadline
from awsfailover.core.items import Item
from awsfailover.core.model import Observed, Outcome, Plan
from awsfailover.core.plan import item_names, items_at, missing_eips
from awsfailover.core.plan import plan as make_plan
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import AwsError, ConfigError, Superseded
from awsfailover.failover.calls import Calls
from awsfailover.failover.confirm import Confirmer
from awsfailover.failover.moves import Guard, Moves, no_guard
from awsfailover.failover.observe import Observer
from awsfailover.failover.refcount import Retiring

__all__ = ["CONFIRM_GRACE", "MAX_ROUNDS", "Engine", "build_engine"]

log = logging.getLogger(__name__)

MAX_ROUNDS = 3  # act, confirm, act again: bounded, a split brain must not spin here


def _unplanned(inst: InstanceSpec, acted: Plan) -> Callable[[Observed], bool]:
    """For a confirmation after acting on warm state: whether what it sees needs an action on
    an item we did not act on (the warm state was wrong there), rather than a slow move."""
    ours = {i for a in acted.actions for i in a.items()}

    def surprise(observed: Observed) -> bool:
        try:
            todo = make_plan(inst, observed).actions
        except ConfigError:
            return False
        return any(not a.items() <= ours for a in todo)

    return surprise


def build_engine(
    settings: FailoverConfig,
    observer: CallObserver | None = None,
    instances: list[InstanceSpec] | None = None,
    facts: NodeFacts | None = None,
) -> Engine:
    """Resolve this node, build the EC2 client with the failover timeouts, wrap it. Only the
    ENIs of `instances` (default: all) are resolved: the hook looks up its own only. facts:
    the command's node facts, when it already has them (one metadata session per command)."""
    from awsfailover.aws.clients import make_ec2_client

    needed = [i.spec for i in settings.instances] if instances is None else instances
    facts = facts or NodeFacts(settings)
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


class Engine:
    def __init__(
        self, settings: FailoverConfig, ec2: Ec2, eni_id: str, enis: dict[str, str] | None = None
    ) -> None:
        self.settings = settings
        self.ec2 = ec2
        self.eni_id = eni_id  # the node's ENI: every instance's unless it names its own
        self._enis = dict(enis or {})  # instance name -> its own ENI (multi-NIC node)
        self.calls = Calls(settings.failover.max_concurrency)
        self.observer = Observer(settings, ec2, self.calls, eni_id, self.eni_of)
        self.moves = Moves(ec2, self.calls)
        self.confirmer = Confirmer(self.observer.observe, self.eni_of, self.observer.remember)
        self._users = Retiring(self.close)

    def eni_of(self, inst: InstanceSpec) -> str:
        """The ENI inst moves to: its own (multi-NIC node), else the node's."""
        return self._enis.get(inst.name) or inst.eni_id or self.eni_id

    @property
    def region(self) -> str:
        return str(self.ec2.client.meta.region_name)

    @property
    def ipv4_limit(self) -> tuple[str, int] | None:
        return self.observer.ipv4_limit

    def close(self) -> None:
        self.calls.close()

    def learn_ipv4_limit(self, deadline: Deadline) -> None:
        """Look up our instance type's addresses per ENI once (two Describe calls), so the
        planner refuses an impossible move at plan time. The agent does it at start; the hook
        does not pay for it (AWS's own PrivateIpAddressLimitExceeded is reported clearly)."""
        try:
            # on the pool: a trickling endpoint must not hold the caller past the deadline
            fut = self.calls.submit(self.ec2.ipv4_limit, self.eni_id, deadline)
            self.observer.ipv4_limit = self.calls.wait(fut, deadline, "instance type")
        except AwsError as exc:
            log.info(
                "instance type of %s not known (%s); no plan-time address check", self.eni_id, exc
            )

    # The agent swaps engines on reload; a takeover holding the old one must finish with it.
    def acquire(self) -> Engine:
        self._users.acquire()
        return self

    def release(self) -> None:
        self._users.release()

    def retire(self) -> None:
        self._users.retire()

    def observe(self, inst: InstanceSpec, deadline: Deadline) -> Observed:
        return self.observer.observe(inst, deadline)

    def observe_all(self, instances: list[InstanceSpec], deadline: Deadline) -> dict[str, Observed]:
        return self.observer.observe_all(instances, deadline)

    def _fresh_look(
        self, inst: InstanceSpec, acted: Plan, deadline: Deadline, outcome: Outcome, known: int
    ) -> Plan | None:
        """After acting on warm state failed: was the warm state wrong? Only the actions a
        fresh look plans differently are worth making (the same call failing again, a denied
        action, is not); None when there are none, and the errors stand."""
        fresh, _ = self.plan(inst, deadline)
        tried = {a.describe() for a in acted.actions}
        new = tuple(a for a in fresh.actions if a.describe() not in tried)
        if not new:
            return None
        log.warning(
            "%s: acting on warm state failed (%s); acting on a fresh look",
            inst.name,
            "; ".join(outcome.errors[known:]),
        )
        del outcome.errors[known:]
        return Plan(fresh.instance, fresh.eni_id, new)

    def _act_first(self, inst: InstanceSpec, max_age: float) -> tuple[Plan, Observed] | None:
        """The plan from warm state, when there is warm state and it asks for something (that
        it says nothing is to be done only a fresh look may say)."""
        known = self.observer.warm(inst.name, max_age)
        if known is None:
            return None
        age, observed = known
        try:
            the_plan = make_plan(inst, observed)
        except ConfigError:
            return None  # the fresh path says it, on fresh facts
        if the_plan.converged:
            return None
        log.info("%s: acting first, on state observed %.1fs ago", inst.name, age)
        return the_plan, observed

    def plan(self, inst: InstanceSpec, deadline: Deadline) -> tuple[Plan, Observed]:
        return make_plan(inst, observed := self.observe(inst, deadline)), observed

    def takeover(
        self,
        inst: InstanceSpec,
        deadline: Deadline,
        guard: Guard = no_guard,
        warm_age: float | None = None,
        fence: int | None = None,
    ) -> Outcome:
        """Converge inst onto this node; never raises for a partial result, reports it. With
        warm_age (the agent) act first: "set" calls planned from the last observation younger
        than warm_age, then only a confirming look; wrong knowledge falls back to a fresh one.
        fence: the arbiter's lease token, logged with each mutating call."""
        first = self._act_first(inst, warm_age) if warm_age else None
        the_plan, observed = first if first is not None else self.plan(inst, deadline)
        ours = self.eni_of(inst)
        outcome = Outcome(instance=inst.name, eni_id=ours)
        outcome.planned = [a.describe() for a in the_plan.actions]
        outcome.errors += missing_eips(inst, observed)  # not moved; the rest still moves
        items = item_names(inst, observed)
        if the_plan.converged:
            outcome.seconds = deadline.elapsed()
            outcome.not_moved = [
                str(Item.eip(e.allocation_id))
                for e in inst.eips
                if e.allocation_id not in observed.eips
            ]
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
        grace = deadline.extended(CONFIRM_GRACE)
        superseded: Superseded | None = None
        final: Observed | None = None
        for round_ in range(1, MAX_ROUNDS + 1):
            known = len(outcome.errors)
            superseded, done = self.moves.execute(
                inst, the_plan, deadline, counted_guard, outcome, fence=fence
            )
            failed = first is not None and round_ == 1 and len(outcome.errors) > known
            if failed and superseded is None and not deadline.expired():
                retry = self._fresh_look(inst, the_plan, deadline, outcome, known)
                if retry is not None:
                    the_plan = retry
                    continue
            # With an action failed, the ones that succeeded are still confirmed (a slow move
            # must not be reported as not moved); with none failed, the whole plan is.
            want = {i for a in done for i in a.items()} if outcome.errors else None
            final = self.confirmer.confirm(
                inst,
                deadline,
                grace,
                want,
                wait=superseded is None,
                surprise=_unplanned(inst, the_plan) if first is not None and round_ == 1 else None,
                planned_on=observed,
            )
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
            grace = deadline.extended(CONFIRM_GRACE)
        at_ours = items_at(inst, final, ours) if final is not None else set()
        before_items = items_at(inst, observed, ours)
        if superseded is None:
            at_ours -= self.confirmer.not_in_metadata(ours, inst, at_ours - before_items, grace)
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
