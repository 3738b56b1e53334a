"""One worker thread per instance: it runs the takeovers keepalived's transitions ask for, and
the drift repairs the reconcile loop asks for, one at a time.

A transition never waits on EC2: it bumps the instance's generation and wakes the worker. A
running takeover checks, before every mutating call, that its generation is still the newest
and that no hook recorded a newer transition in the shared sequence: the newest transition
always wins, whichever channel carried it. The worker knows its engine holder, the sequences
and the event bus; it never holds the agent.

A demoted master's call already sent when keepalived demoted it can land after our takeover
confirmed (its guard stops its next call, not the one in flight): SETTLE_LOOK after every
MASTER takeover the worker looks once more, and repairs what such a late call moved.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from awsfailover.agent.damper import Damper
from awsfailover.agent.engines import EngineHolder
from awsfailover.agent.events import (
    Bus,
    MutationEvent,
    Reason,
    Result,
    SplitBrainEvent,
    TakeoverFinished,
    TakeoverStarted,
)
from awsfailover.agent.lease_gate import LeaseGate
from awsfailover.agent.metrics import Metrics
from awsfailover.agent.sequences import Sequences
from awsfailover.config.schema import AgentSettings
from awsfailover.core.deadline import Deadline
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import AwsError, ConfigError, LeaseRefused, Superseded
from awsfailover.failover.moves import Guard
from awsfailover.failover.sequence import ZERO, Stamp

__all__ = ["InstanceWorker", "Workers"]

log = logging.getLogger(__name__)

SETTLE_LOOK = 2.0  # seconds: EC2 answers a mutating call in well under that; later is reconcile's


class InstanceWorker:
    def __init__(
        self,
        inst: InstanceSpec,
        engines: EngineHolder,
        sequences: Sequences,
        events: Bus,
        settings: AgentSettings,
        *,
        liveness: Callable[[], None] = lambda: None,
        gate: LeaseGate | None = None,
    ) -> None:
        self.inst = inst
        self.gate = gate  # the arbiter's lease, when there is one
        self.liveness = liveness  # keepalived's guard: a dead keepalived turns us UNKNOWN
        self.engines = engines
        self.sequences = sequences
        self.events = events
        self.settings = settings
        self.cond = threading.Condition()
        self.role = "UNKNOWN"
        self.stamp: Stamp = ZERO  # the newest accepted transition's place in keepalived's order
        self.gen = 0
        self.done_gen = 0
        self.repair = False
        self.settle_at: float | None = None  # when to look once more after a takeover
        self.busy = False
        self.stopping = False
        self.damper = Damper(settings.damping_max_moves, settings.damping_window)
        self.thread = threading.Thread(target=self._run, name=f"worker-{inst.name}", daemon=True)
        self.thread.start()

    def reconfigure(self, inst: InstanceSpec, settings: AgentSettings) -> None:
        self.inst = inst
        self.settings = settings

    def submit(self, state: str, stamp: Stamp) -> int:
        """Called with the ordering lock held, for a transition the sequence accepted."""
        with self.cond:
            self.stamp = stamp
            if state == "MASTER" == self.role and (self.busy or self.gen != self.done_gen):
                # The same MASTER again while its takeover is queued or running (a FIFO line
                # and a hook for one keepalived transition): restarting would only throw away
                # the calls already made. The takeover's guard now checks the newer stamp.
                log.debug("%s: MASTER already in hand (transition %d)", self.inst.name, self.gen)
                return self.gen
            self.gen += 1
            self.role = state
            self.repair = False
            self.settle_at = None
            was = self.damper.transition()
            was = (self.gate is not None and self.gate.transition()) or was
            self.events.emit(SplitBrainEvent(self.inst.name, "cleared", was_damped=was))
            self.cond.notify_all()
            return self.gen

    def lease_turn(self) -> None:
        """The lease keeper's turn; a MASTER refused the lease takes it once it may."""
        if self.gate is not None and self.gate.tick(self.role == "MASTER"):
            self.request_repair()

    def request_repair(self) -> None:
        with self.cond:
            if self.role == "MASTER" and not self.busy and self.gen == self.done_gen:
                self.repair = True
                self.cond.notify_all()

    def stop(self) -> None:
        with self.cond:
            self.stopping = True
            self.cond.notify_all()

    def idle(self) -> bool:
        """Nothing queued, running, or due: a settle look pending is work still to do."""
        with self.cond:
            return (
                not self.busy
                and self.gen == self.done_gen
                and not self.repair
                and self.settle_at is None
            )

    def _wait_for_work(self) -> bool:
        """Called with cond held; False once stopping."""
        while not self.stopping and self.gen == self.done_gen and not self.repair:
            if self.settle_at is None:
                self.cond.wait()
            elif (left := self.settle_at - time.monotonic()) > 0:
                self.cond.wait(left)
            else:
                break  # the settle look is due
        return not self.stopping

    def _run(self) -> None:
        while True:
            with self.cond:
                if not self._wait_for_work():
                    return
                gen, role, repair = self.gen, self.role, self.repair and self.gen == self.done_gen
                settle = self.gen == self.done_gen and not self.repair
                self.repair = False
                self.settle_at = None
                self.busy = True
            reason: Reason = "drift" if repair or settle else "transition"
            try:
                if role == "MASTER" and settle:
                    self._settle(gen)
                elif role == "MASTER":
                    self._takeover(gen, reason)
                elif self.gate is not None and not settle:
                    self.gate.demoted()
            except Exception:  # a worker must survive anything to serve the next transition
                log.exception("%s: takeover crashed", self.inst.name)
                self.events.emit(TakeoverFinished(self.inst.name, reason, gen, "failed"))
            finally:
                with self.cond:
                    self.done_gen = max(self.done_gen, gen)
                    self.busy = False
                    # after keepalived's takeovers only: a repair is not racing a demoted master
                    if role == "MASTER" and reason == "transition" and self.gen == gen:
                        self.settle_at = time.monotonic() + SETTLE_LOOK
                    self.cond.notify_all()

    def _settle(self, gen: int) -> None:
        """The look after a takeover: one observation; a repair only if something moved away,
        and only while keepalived still runs (killed since, its peer is master now)."""
        self.liveness()
        with self.cond:
            if self.gen != gen or self.role != "MASTER" or (self.gate and self.gate.refused):
                return  # (refused the lease: we moved nothing, nothing can have undone it)
        with self.engines.lease() as engine:
            try:
                the_plan, _ = engine.plan(self.inst, Deadline(self.settings.takeover_deadline))
            except (AwsError, ConfigError) as exc:
                log.info("%s: settle look failed (%s); reconcile will look", self.inst.name, exc)
                return
        if the_plan.converged:
            return
        log.warning(
            "%s: moved away after our takeover (a demoted master's late call?): %s",
            self.inst.name,
            "; ".join(a.describe() for a in the_plan.actions),
        )
        self._takeover(gen, "drift")

    def _guard(self, gen: int) -> Guard:
        seq = self.sequences(self.inst.name)

        def guard() -> None:
            at = time.monotonic()  # stamped before the check: the audit log never flatters us
            if self.gen != gen:
                raise Superseded(f"{self.inst.name}: transition {gen} superseded by {self.gen}")
            # A hook that did the work itself (the agent did not answer in time) advanced the
            # shared sequence: a newer keepalived transition, whichever path carried it.
            seq.check(self.stamp)
            self.events.emit(MutationEvent(self.inst.name, gen, at))

        return guard

    def _takeover(self, gen: int, reason: Reason) -> None:
        name = self.inst.name
        deadline = Deadline(self.settings.takeover_deadline)
        if reason == "drift" and not self.damper.allow_repair(time.monotonic()):
            self.events.emit(
                SplitBrainEvent(
                    name, "damped", repairs=len(self.damper.moves), window=self.damper.window
                )
            )
            return
        self.events.emit(TakeoverStarted(name, reason, gen))
        with self.engines.lease() as engine:
            try:
                # A keepalived MASTER acts first from what the last reconcile or confirm saw,
                # if it is that recent; a drift repair acts on the look that found the drift,
                # taken afresh (it is not racing keepalived, and must not act on a guess).
                warm = (
                    2 * self.settings.reconcile_interval + self.settings.takeover_deadline
                    if reason == "transition"
                    else None
                )
                guard, fence = self._guard(gen), None
                if self.gate is not None:
                    guard, fence = self.gate.admit(deadline, guard)
                outcome = engine.takeover(self.inst, deadline, guard, warm_age=warm, fence=fence)
            except LeaseRefused as exc:
                self.events.emit(TakeoverFinished(name, reason, gen, "refused", error=str(exc)))
                return
            except Superseded as exc:
                self.events.emit(TakeoverFinished(name, reason, gen, "superseded", error=str(exc)))
                return
            except (AwsError, ConfigError) as exc:
                self.events.emit(TakeoverFinished(name, reason, gen, "failed", error=str(exc)))
                return
        if not outcome.planned and outcome.complete:
            self.events.emit(TakeoverFinished(name, reason, gen, "noop", outcome))
            return
        if reason == "drift":
            self.damper.record_repair(time.monotonic())
        result: Result = "converged" if outcome.complete else "partial"
        self.events.emit(TakeoverFinished(name, reason, gen, result, outcome))


class Workers(dict[str, InstanceWorker]):
    """One worker per configured instance, by name: made, reconfigured and retired as the
    config says, and stopped together."""

    def __init__(
        self, engines: EngineHolder, sequences: Sequences, events: Bus, metrics: Metrics
    ) -> None:
        super().__init__()
        self.engines = engines
        self.sequences = sequences
        self.events = events
        self.metrics = metrics
        self.liveness: Callable[[], None] = lambda: None  # the agent sets keepalived's guard
        self.gate: Callable[[InstanceSpec], LeaseGate | None] = lambda _inst: None

    def sync(self, specs: list[InstanceSpec], settings: AgentSettings) -> None:
        wanted = {i.name: i for i in specs}
        for name in list(self):
            if name not in wanted:
                self.pop(name).stop()
        for name, inst in wanted.items():
            if name in self:
                self[name].reconfigure(inst, settings)
            else:
                self[name] = InstanceWorker(
                    inst,
                    self.engines,
                    self.sequences,
                    self.events,
                    settings,
                    liveness=self._live,
                    gate=self.gate(inst),
                )
                self.metrics.set_state(name, "UNKNOWN")

    def _live(self) -> None:
        self.liveness()

    def stop_all(self, seconds: float) -> None:
        """Let a takeover in flight finish (within seconds) rather than leave EC2 half-moved;
        start nothing new."""
        end = time.monotonic() + seconds
        for w in self.values():
            w.stop()
        for w in self.values():
            w.thread.join(timeout=max(0.0, end - time.monotonic()))
