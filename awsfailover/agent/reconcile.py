"""The reconcile loop's one pass: observe every instance with a few Describe calls, report
what is where, and ask the worker of each idle MASTER to repair its drift."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from awsfailover.agent.engines import EngineHolder
from awsfailover.agent.events import Bus, Reconciled
from awsfailover.agent.worker import InstanceWorker
from awsfailover.core.deadline import Deadline
from awsfailover.core.plan import item_names, items_at, missing_eips
from awsfailover.core.plan import plan as make_plan
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import AwsFailoverError, ConfigError

__all__ = ["reconcile"]

log = logging.getLogger(__name__)


def reconcile(
    specs: list[InstanceSpec],
    engines: EngineHolder,
    workers: Mapping[str, InstanceWorker],
    events: Bus,
    deadline: Deadline,
) -> bool:
    """Whether the Describe calls succeeded."""
    with engines.lease() as engine:
        try:
            observed = engine.observe_all(specs, deadline)
        except AwsFailoverError as exc:
            log.warning("reconcile failed: %s", exc)
            return False
    events.emit(
        Reconciled(
            {
                i.name: (
                    frozenset(items_at(i, observed[i.name], observed[i.name].local.eni_id)),
                    tuple(item_names(i, observed[i.name])),
                )
                for i in specs
            }
        )
    )
    for inst in specs:
        obs = observed[inst.name]
        for missing in missing_eips(inst, obs):
            log.error("%s: reconcile: %s; the rest is repaired", inst.name, missing)
        worker = workers.get(inst.name)
        if worker is None or worker.role != "MASTER" or not worker.idle():
            continue
        try:
            drift = make_plan(inst, obs).actions
        except ConfigError as exc:
            log.error("%s: reconcile: %s", inst.name, exc)
            continue
        if drift:
            log.warning("%s: drift: %s", inst.name, "; ".join(a.describe() for a in drift))
            worker.request_repair()
    return True
