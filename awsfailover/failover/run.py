"""The failover commands: notify, takeover, status. The CLI parses; this module acts."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from awsfailover.config.compact import FailoverConfig
from awsfailover.core.deadline import Deadline
from awsfailover.core.items import Item
from awsfailover.core.model import EipState, Observed, Outcome
from awsfailover.core.plan import (
    check_eips,
    check_routes,
    check_vips,
    converged_on,
    item_names,
    missing_eips,
    owners,
    routes_in,
)
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import (
    EXIT_NOT_CONVERGED,
    AwsError,
    ConfigError,
    FailoverIncomplete,
)
from awsfailover.failover.engine import Engine, build_engine
from awsfailover.failover.moves import Guard, no_guard
from awsfailover.failover.sequence import (
    ZERO,
    Record,
    Sequence,
    Stamp,
    format_stamp,
    process_stamp,
)
from awsfailover.keepalived.protocol import Transition

if TYPE_CHECKING:
    from awsfailover.config.schema import Settings
    from awsfailover.failover.arbiter import Arbiter

log = logging.getLogger(__name__)


def report(outcome: Outcome) -> None:
    if not outcome.planned and outcome.complete:
        log.info(
            "%s: converged on %s (no change, %.3fs)",
            outcome.instance,
            outcome.eni_id,
            outcome.seconds,
        )
        return
    if outcome.complete:
        log.info(
            "%s: %s: %s",
            outcome.instance,
            outcome.converged(),
            ", ".join(outcome.moved) or "confirmed",
        )
        return
    raise FailoverIncomplete(f"{outcome.instance}: {outcome.shortfall()}")


def sequence(settings: FailoverConfig, name: str) -> Sequence:
    f = settings.failover
    return Sequence(name, f.state_dir, f.fallback_state_dir)


def converge(
    settings: FailoverConfig,
    inst: InstanceSpec,
    seq: Sequence | None = None,
    stamp: Stamp = ZERO,
    engine: Engine | None = None,
) -> Outcome:
    deadline = Deadline(settings.failover.deadline)
    if seq is not None:
        seq.check(stamp)  # overtaken while loading the config: stop before importing botocore
    own = engine is None
    engine = engine or build_engine(settings, instances=[inst])
    try:
        arbiter = _arbiter(settings, engine)
        if seq is None:
            return _takeover(engine, arbiter, inst, deadline, no_guard)

        def guard() -> None:
            seq.check(stamp)

        with seq.exclusive(stamp, timeout=settings.failover.deadline):
            return _takeover(engine, arbiter, inst, deadline, guard)
    except AwsError as exc:
        # Failed before acting (the observation or the plan): nothing moved. Say what did not,
        # in the one line keepalived's log keeps.
        raise FailoverIncomplete(
            f"{inst.name}: failover to {engine.eni_of(inst)} failed before any change: {exc}; "
            f"moved: nothing; NOT moved: {', '.join(wanted_items(inst)) or '-'}"
        ) from exc
    finally:
        if own:
            engine.close()


def _arbiter(settings: FailoverConfig, engine: Engine) -> Arbiter | None:
    """The config's arbiter; imported only when there is one (the hook's path stays lean)."""
    if settings.arbiter is None:
        return None
    from awsfailover.failover.arbiter import build_arbiter

    return build_arbiter(settings, engine.region)


def _takeover(
    engine: Engine, arbiter: Arbiter | None, inst: InstanceSpec, deadline: Deadline, guard: Guard
) -> Outcome:
    """The takeover, under the arbiter's lease when there is one (taken first, which may
    wait up to its ttl here: a hook has not watched the lease; renewed while it runs)."""
    if arbiter is None:
        return engine.takeover(inst, deadline, guard)
    from awsfailover.failover.arbiter import both, renewing

    lease = arbiter.lease(inst.name, engine.eni_of(inst))
    grant = arbiter.acquire(lease, deadline, guard)
    with renewing(arbiter, lease, grant):
        leased = both(guard, arbiter.guard(lease, grant))
        return engine.takeover(inst, deadline, leased, fence=grant.token)


def wanted_items(inst: InstanceSpec) -> list[str]:
    """What a takeover of inst moves, as known without EC2 (routes = "auto" are found there)."""
    items = [str(Item.vip(v)) for v in inst.vips]
    items += [str(Item.eip(e.allocation_id)) for e in inst.eips]
    if inst.auto_routes:
        items.append("routes (auto)")
    else:
        tables = ",".join(inst.route_tables) if inst.route_tables else "its tables"
        items += [f"route {tables} {d}" for d in inst.explicit_routes]
    return items


def notify(
    settings: FailoverConfig,
    t: Transition,
    seq: Sequence | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> int:
    """The hook doing the work itself (no agent answered). seq is given when the CLI already
    claimed the transition's place before loading the config; on_outcome hears the takeover's
    outcome before it is reported (the hook's events)."""
    inst = settings.instance(t.name).spec
    stamp = t.stamp or process_stamp()
    if seq is None:
        seq = sequence(settings, inst.name)
        if not seq.advance(stamp, t.state):
            log.info("%s: %s already overtaken by a newer transition", inst.name, t.state)
            return 0
    log.info(
        "%s: %s %s (priority %s, transition %s)",
        inst.name,
        t.kind,
        t.state,
        t.priority if t.priority is not None else "-",
        format_stamp(stamp),
    )
    if t.state != "MASTER":
        return 0
    outcome = converge(settings, inst, seq, stamp)
    if on_outcome is not None:
        on_outcome(outcome)
    report(outcome)
    return 0


def takeover(settings: Settings, names: list[str], dry_run: bool, force: bool = False) -> int:
    """An operator's convergence on demand. It is not a keepalived transition: nothing is
    recorded in the sequence (an agent follows keepalived only, so the real master's reconcile
    repairs a forced takeover back), and a keepalived transition arriving meanwhile stops it."""
    instances = [settings.instance(n).spec for n in names] if names else settings.specs
    if not instances:
        raise ConfigError("no instances configured")
    # keepalived's view of each instance here, before anything moves: refusing one instance
    # after another was moved would leave the group half taken
    seqs = {inst.name: sequence(settings, inst.name) for inst in instances}
    records = {name: seq.current() for name, seq in seqs.items()}
    if not dry_run:
        _refuse_against_keepalived(records, force)
    engine = build_engine(settings, instances=instances)
    try:
        for inst in instances:
            if dry_run:
                plan, _ = engine.plan(inst, Deadline(settings.failover.deadline))
                if plan.converged:
                    print(f"{inst.name}: converged on {plan.eni_id}; nothing to do")
                for action in plan.actions:
                    print(f"{inst.name} (dry run): {action.describe()}")
                continue
            rec = records[inst.name]
            forced = rec is not None and rec.state != "MASTER"
            log.log(
                logging.WARNING if forced else logging.INFO,
                "%s: operator takeover%s (keepalived here: %s); not a keepalived transition",
                inst.name,
                " FORCED" if forced else "",
                f"{rec.state} since {format_stamp(rec.stamp)}" if rec else "no transition seen",
            )
            # the guard holds the record seen above: any newer keepalived transition stops us
            stamp = rec.stamp if rec is not None else ZERO
            report(converge(settings, inst, seqs[inst.name], stamp, engine=engine))
    finally:
        engine.close()
    return 0


def _refuse_against_keepalived(records: dict[str, Record | None], force: bool) -> None:
    against = {n: r for n, r in records.items() if r is not None and r.state != "MASTER"}
    if against and not force:
        states = ", ".join(
            f"{n} {r.state} (since {format_stamp(r.stamp)})" for n, r in against.items()
        )
        raise ConfigError(
            f"takeover refused: keepalived has this node {states}; the master's agent would "
            "move it back. --force moves it anyway"
        )


def _eip_doc(state: EipState | None) -> dict[str, str | None] | None:
    if state is None:
        return None
    return {"public_ip": state.public_ip, "eni": state.eni_id, "private_ip": state.private_ip}


def status(settings: Settings, as_json: bool) -> int:
    engine = build_engine(settings)
    docs: list[dict[str, Any]] = []
    try:
        arbiter = _arbiter(settings, engine)
        for inst in settings.specs:
            observed = engine.observe(inst, Deadline(settings.failover.deadline))
            problems = missing_eips(inst, observed)
            for check in (check_vips, check_routes, check_eips):
                try:
                    check(inst, observed)
                except ConfigError as exc:
                    problems.append(str(exc))
            owner = converged_on(inst, observed)
            if owner is None:
                problems.append(_split(inst, observed))
            ours = engine.eni_of(inst)
            docs.append(
                {
                    "name": inst.name,
                    "local_eni": ours,
                    "vips": {
                        v: (observed.holders[v].eni_id if v in observed.holders else None)
                        for v in inst.vips
                    },
                    "eips": {
                        e.allocation_id: _eip_doc(observed.eips.get(e.allocation_id))
                        for e in inst.eips
                    },
                    "routes": {
                        t.table_id: {
                            d: (t.routes[d].target if d in t.routes else None)
                            for d in routes_in(inst, t, observed)
                        }
                        for t in observed.tables.values()
                    },
                    "converged_on": owner,
                    "local_is_holder": owner == ours,
                    "items": len(item_names(inst, observed)),
                    "problems": problems,
                }
            )
            if arbiter is not None:
                docs[-1]["lease"] = _lease_doc(arbiter, inst.name, ours)
    finally:
        engine.close()
    code = EXIT_NOT_CONVERGED if any(d["problems"] for d in docs) else 0
    if as_json:
        json.dump({"instances": docs}, sys.stdout, indent=2, sort_keys=True)
        print()
        return code
    for d in docs:
        where = d["converged_on"] or "NOT CONVERGED (split)"
        mark = " (this node)" if d["local_is_holder"] else ""
        print(f"{d['name']}: {where}{mark}")
        for vip, eni in d["vips"].items():
            print(f"  vip   {vip:<28} {eni or 'unassigned'}")
        for alloc, eip in d["eips"].items():
            where = f"{eip['eni']} {eip['private_ip']}" if eip and eip["eni"] else "unassociated"
            public = eip["public_ip"] if eip else "?"
            print(f"  eip   {alloc} {public:<15} {where}")
        for table, routes in sorted(d["routes"].items()):
            for dest, target in routes.items():
                print(f"  route {table} {dest:<22} {target or 'MISSING'}")
        if "lease" in d:
            print(f"  lease {_lease_line(d['lease'])}")
        for p in d["problems"]:
            print(f"  problem: {p}")
    return code


def _lease_doc(arbiter: Arbiter, name: str, ours: str) -> dict[str, Any]:
    """The instance's lease as the table says now (one consistent read), for status."""
    lease = arbiter.lease(name, ours)
    try:
        rec = lease.look(arbiter.call_timeout * 2)
    except AwsError as exc:
        return {"id": lease.lease_id, "error": str(exc)}
    if rec is None:
        return {"id": lease.lease_id, "holder": None, "token": None, "this_node": False}
    from awsfailover.core.lease import FREE

    holder = None if rec.holder == FREE else rec.holder
    return {"id": lease.lease_id, "holder": holder, "token": rec.token, "this_node": holder == ours}


def _lease_line(doc: dict[str, Any]) -> str:
    if "error" in doc:
        return f"{doc['id']}: table not answering ({doc['error']})"
    if doc["holder"] is None:
        return f"{doc['id']}: free" + (f" (token {doc['token']})" if doc["token"] else "")
    mark = " (this node)" if doc["this_node"] else ""
    return f"{doc['id']}: held by {doc['holder']}{mark}, token {doc['token']}"


def _split(inst: InstanceSpec, observed: Observed) -> str:
    """Where each item of a split instance is: the problem line status reports."""
    by: dict[str, list[str]] = {}
    for item, (eni, exact) in owners(inst, observed).items():
        where = eni if eni and exact else (f"{eni} (another address)" if eni else "nowhere")
        by.setdefault(where, []).append(str(item))
    return "not converged: " + "; ".join(
        f"{', '.join(sorted(items))} on {where}" for where, items in sorted(by.items())
    )
