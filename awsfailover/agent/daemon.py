"""The long-running agent: keepalived's FIFO and the hooks' hand-off in, warm EC2 clients, one
worker per instance, a reconcile loop that repairs drift, damping against split-brain
ping-pong, Prometheus metrics and /healthz.

The Agent only assembles and runs the parts: the engine holder (engines), keepalived's order
(ordering), the workers (worker), the event bus and its listeners (events, listeners), the
inputs (fifo_input, handoff_server) and the HTTP server (http). Threads: the main loop, which
sleeps on one wake-up (signals, reload, stop, the reconcile tick); the FIFO reader; the
hand-off server and its small pool; the metrics server; one worker per instance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from awsfailover.agent.engines import EngineHolder
from awsfailover.agent.events import Bus, InputFailed, Listener
from awsfailover.agent.fifo_input import open_fifo, read_fifo
from awsfailover.agent.handoff_server import HandoffServer
from awsfailover.agent.health import HealthChanges, judge_health
from awsfailover.agent.http import MetricsServer
from awsfailover.agent.keepalived_guard import KeepalivedGuard, KeepalivedSpoke
from awsfailover.agent.lease_gate import LeaseGate, LeaseKeeper
from awsfailover.agent.listeners import LogListener, MetricsListener
from awsfailover.agent.metrics import Metrics
from awsfailover.agent.ordering import Ordering
from awsfailover.agent.reconcile import reconcile
from awsfailover.agent.sequences import Sequences
from awsfailover.agent.sinks.listener import event_sinks
from awsfailover.agent.startup import AddressSource, detect_startup_state, interface_addresses
from awsfailover.agent.systemd import Notifier, StatusListener
from awsfailover.agent.trackers import KeepalivedTrackers
from awsfailover.agent.wakeup import Wakeup
from awsfailover.agent.worker import Workers
from awsfailover.config.load import load_settings
from awsfailover.config.schema import Settings
from awsfailover.core.deadline import Deadline
from awsfailover.core.spec import InstanceSpec
from awsfailover.failover.arbiter import build_arbiter
from awsfailover.failover.engine import Engine
from awsfailover.keepalived.fifo import FifoReader
from awsfailover.keepalived.protocol import Transition
from awsfailover.logs import count

__all__ = ["Agent", "EngineFactory", "default_engine_factory"]

log = logging.getLogger(__name__)

EngineFactory = Callable[[Settings, Metrics], Engine]


def default_engine_factory(settings: Settings, metrics: Metrics) -> Engine:
    from awsfailover.failover.engine import build_engine

    return build_engine(settings, metrics)


def spawn(fn: Callable[..., None], name: str, *args: Any) -> threading.Thread:
    t = threading.Thread(target=fn, args=args, name=name, daemon=True)
    t.start()
    return t


def learn_instance_type(engine: Engine, deadline: Deadline) -> None:
    engine.acquire()  # a reload right after this one may retire it meanwhile
    try:
        engine.learn_ipv4_limit(deadline)
    except Exception as exc:  # closed under us: the next engine learns its own
        log.debug("instance type not learnt: %s", exc)
    finally:
        engine.release()


class Agent:
    def __init__(
        self,
        settings: Settings,
        *,
        config_path: str | None = None,
        fifo: Path | None = None,
        registry: Any = None,
        engine_factory: EngineFactory = default_engine_factory,
        addresses: AddressSource = interface_addresses,
        listeners: tuple[Listener, ...] = (),
        process_name: str | None = None,  # the CLI's agent takes keepalived's tracked name
    ) -> None:
        from prometheus_client import CollectorRegistry

        self.settings = settings
        self.config_path = config_path
        self.fifo = fifo or settings.agent.fifo
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.systemd = Notifier()  # a no-op unless systemd gave us NOTIFY_SOCKET
        own = (MetricsListener(self.metrics), LogListener(), StatusListener(self.systemd))
        self.events = Bus((*own, *listeners))
        state_dir = lambda: self.settings.failover.state_dir  # noqa: E731 - a reload moves it
        self.trackers = KeepalivedTrackers(state_dir, process_name, self.events.emit)
        self.events.add(self.trackers)
        self.engine_factory, self.addresses = engine_factory, addresses
        self.engines = EngineHolder(engine_factory(settings, self.metrics))
        for sink in event_sinks(settings, self.metrics, self.engine.eni_id):
            self.events.add(sink)  # only appends to its outboxes: never waits on the network
        self.sequences = Sequences(settings.failover)
        self.workers = Workers(self.engines, self.sequences, self.events, self.metrics)
        self.keeper = _lease_keeper(self)
        self.ordering = Ordering(self.sequences, self.workers, self.events)
        self.wakeup = Wakeup()
        self.last_reconcile_ok: float | None = None
        self.keepalived = KeepalivedGuard(settings.agent, self.metrics, self.ordering)
        self.workers.liveness = self.keepalived.check
        self.events.add(KeepalivedSpoke(self.keepalived, self._check_health))
        self._reconciling: threading.Thread | None = None
        self._health = HealthChanges()
        self._threads: list[threading.Thread] = []
        self._fifo: FifoReader | None = None
        self._handoff = _handoff_server(self)
        self._http: MetricsServer | None = None
        self.ready = threading.Event()

    @property
    def engine(self) -> Engine:
        return self.engines.current

    # --- transitions ---------------------------------------------------------------------

    def dispatch(self, t: Transition, source: str) -> int | None:
        return self.ordering.dispatch(t, source)

    # --- reconcile and health ------------------------------------------------------------

    def reconcile(self) -> bool:
        self.keepalived.check()
        self.ordering.adopt_recorded()
        deadline = Deadline(self.settings.agent.takeover_deadline)
        ok = reconcile(self.settings.specs, self.engines, self.workers, self.events, deadline)
        if ok:
            self.last_reconcile_ok = time.monotonic()
        return ok

    def healthy(self) -> tuple[bool, str]:
        if self.wakeup.stopping:  # its inputs close one by one: blame none of them
            return False, "agent stopping"
        return judge_health(
            self._fifo,
            self.last_reconcile_ok,
            self.settings.agent.health_age,
            self.metrics.last_ec2_error,
            self.keepalived.gone,
        )

    def _check_health(self) -> None:
        self._health.tell(self.healthy(), self.events.emit)

    # --- reload --------------------------------------------------------------------------

    def reload(self) -> bool:
        """New engine first, then swap: the old one finishes the takeovers that hold it."""
        try:
            new = load_settings(self.config_path)
            engine = self.engine_factory(new, self.metrics)
        except Exception as exc:  # whatever the file holds, the running config stays
            log.error("reload rejected, keeping the running config: %s", exc)
            return False
        _warn_restart_only(self.settings, new)
        # an optimisation, bounded, but off the main loop: a slow EC2 must not delay a signal
        spawn(learn_instance_type, "learn", engine, Deadline(new.agent.takeover_deadline))
        self.engines.swap(engine)
        with self.ordering.lock:
            self.sequences.reconfigure(new.failover)
            self.settings = new
            self.workers.sync(self.settings.specs, self.settings.agent)
        self.keepalived.watch.pidfile = new.agent.keepalived_pidfile
        log.info("reloaded config: %s", count(len(new.instances), "instance"))
        return True

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def metrics_port(self) -> int | None:
        return self._http.port if self._http is not None else None

    def request_stop(self) -> None:
        self.wakeup.request("stop")

    def request_reload(self) -> None:
        self.wakeup.request("reload")

    def install_signal_handlers(self) -> None:
        self.wakeup.install_signal_handlers()

    def run(self) -> int:
        self._handoff.open()
        try:
            self._start()
            next_reconcile = time.monotonic()
            self.trackers.ready()
            self.ready.set()
            self.systemd.ready(f"ready: {count(len(self.workers), 'instance')}")
            while True:
                now = time.monotonic()
                self.systemd.ping(now)  # from this loop only: a stuck loop is restarted
                due = self.systemd.ping_due(now)
                wait = next_reconcile - now if due is None else min(due, next_reconcile - now)
                reasons = self.wakeup.wait(wait)
                if "stop" in reasons:
                    break
                if "reload" in reasons:
                    self.systemd.reloading()
                    self.reload()
                    self.systemd.ready(f"reloaded: {count(len(self.workers), 'instance')}")
                if time.monotonic() >= next_reconcile:
                    # beside this loop, one pass at a time: slow EC2 never delays a signal
                    if self._reconciling is None or not self._reconciling.is_alive():
                        self._reconciling = spawn(self._reconcile_pass, "reconcile")
                    next_reconcile = time.monotonic() + self.settings.agent.reconcile_interval
        finally:
            self._shutdown()
        return 0

    def _reconcile_pass(self) -> None:
        try:
            self.reconcile()
        except Exception as exc:  # the next tick tries again; the agent stays up
            self.events.emit(InputFailed("reconcile", f"{type(exc).__name__}: {exc}"))
        self._check_health()

    def _start(self) -> None:
        cfg = self.settings.agent
        self.workers.sync(self.settings.specs, self.settings.agent)
        if self.fifo is not None:
            self._fifo = open_fifo(self.fifo, self.ordering.fifo_line, self.ordering.lock)
            self.ordering.fifo = self._fifo
            self._threads.append(spawn(read_fifo, "fifo", self._fifo, self.wakeup.stop_fd))
        self._threads.append(spawn(self._handoff.serve, "handoff"))
        if self.keeper is not None:
            self._threads.append(spawn(self.keeper.run, "lease"))
        if cfg.metrics_address:  # bound now when free (a bad address is fatal); else retried
            self._http = MetricsServer.bound(cfg.metrics_address, self.registry, self.healthy)
            self._threads.append(spawn(self._http.run, "metrics", self.wakeup.stop_fd))
        # before the first takeover, bounded by the deadline even on a trickling endpoint
        self.engine.learn_ipv4_limit(Deadline(cfg.takeover_deadline))
        detect_startup_state(
            self.settings.specs,
            self.settings.node.interface,
            self.addresses,
            self.workers,
            self.ordering,
        )
        log.info(
            "agent up: %s, fifo %s, socket %s",
            count(len(self.workers), "instance"),
            self.fifo or "-",
            cfg.socket,
        )

    def _shutdown(self) -> None:
        log.info("agent stopping")
        self.systemd.stopping()
        self.wakeup.request("stop")  # wakes the FIFO reader and the hand-off server
        self._handoff.close()
        if self.keeper is not None:
            self.keeper.stop()
        self.workers.stop_all(self.settings.agent.takeover_deadline + 1.0)
        if self._http is not None:
            self._http.close()
        for t in self._threads:
            t.join(timeout=1.0)
        self.events.close()  # the sinks' outboxes, bounded
        self.engines.retire()
        self.trackers.stopped()
        self.wakeup.close()
        log.info("agent stopped")


def _warn_restart_only(old: Settings, new: Settings) -> None:
    for key in ("fifo", "socket", "metrics_address"):
        if getattr(new.agent, key) != getattr(old.agent, key):
            log.warning("reload: agent.%s changed; takes effect at restart", key)
    if (new.arbiter, new.group.name) != (old.arbiter, old.group.name):
        log.warning("reload: [arbiter] or group.name changed; takes effect at restart")


def _lease_keeper(agent: Agent) -> LeaseKeeper | None:
    """The arbiter's gates for the workers and the thread that renews and watches, or None
    without [arbiter]. Restart-only: a lease must not change table or name under a holder."""
    arbiter = build_arbiter(agent.settings, agent.engine.region)
    if arbiter is None:
        return None
    engines = agent.engines

    def gate(inst: InstanceSpec) -> LeaseGate:
        return LeaseGate(arbiter, inst.name, lambda: engines.current.eni_of(inst), agent.events)

    agent.workers.gate = gate
    return LeaseKeeper(arbiter.ttl / 6, lambda: [w.lease_turn for w in agent.workers.values()])


def _handoff_server(agent: Agent) -> HandoffServer:
    def failed(exc: BaseException) -> None:
        agent.events.emit(InputFailed("handoff", f"{type(exc).__name__}: {exc}"))

    return HandoffServer(
        agent.settings.agent.socket,
        agent.ordering.handoff,
        agent.wakeup.stop_fd,
        failed,
        health=agent.healthy,
    )
