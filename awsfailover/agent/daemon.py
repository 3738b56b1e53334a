"""The long-running agent: keepalived FIFO and hook hand-off in, warm EC2 clients, one worker
per instance, a reconcile loop that repairs drift, damping against split-brain ping-pong,
Prometheus metrics and /healthz.

Threads: the main loop (signals as flags, reconcile timer, reload), a FIFO reader, a socket
server, the metrics server, and one worker per instance. Transitions never wait on EC2: they
bump the instance's generation and wake its worker; a running takeover checks its generation
before every mutating call, so the newest transition always wins.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import selectors
import signal
import socket
import stat
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from awsfailover import defaults
from awsfailover.agent.metrics import Metrics
from awsfailover.config.load import load_settings
from awsfailover.config.schema import (
    AgentSettings,
    Settings,
    split_host_port,
)
from awsfailover.core.deadline import Deadline
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import AwsError, AwsFailoverError, ConfigError, Superseded
from awsfailover.failover.engine import Engine
from awsfailover.failover.sequence import ZERO, Sequence, Stamp, format_stamp, now_stamp
from awsfailover.keepalived.fifo import FifoReader
from awsfailover.keepalived.protocol import Transition, parse_line

log = logging.getLogger(__name__)

EngineFactory = Callable[[Settings, Metrics], Engine]
AddressSource = Callable[[str], set[str]]


def interface_addresses(interface: str) -> set[str]:
    """Addresses on an OS interface (keepalived puts the VIPs on the master's interface)."""
    try:
        out = subprocess.run(
            ["ip", "-j", "addr", "show", "dev", interface],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("cannot read addresses of %s: %s", interface, exc)
        return set()
    addrs = set()
    for link in json.loads(out or "[]"):
        for a in link.get("addr_info", []):
            if "local" in a:
                addrs.add(str(a["local"]))
    return addrs


class Damper:
    """At most max_moves drift repairs that moved something per window, counted since
    keepalived's last transition. Past that, drift repairs latch off until keepalived reports a
    new transition: two masters (a cut VRRP link) then stop stealing the VIP back and forth,
    and the last move stands. keepalived's own transitions are never counted: they are the
    order we exist to follow, however many there are."""

    def __init__(self, max_moves: int, window: float) -> None:
        self.max_moves = max_moves
        self.window = window
        self.moves: deque[float] = deque()
        self.latched = False

    def _trim(self, now: float) -> None:
        while self.moves and now - self.moves[0] > self.window:
            self.moves.popleft()

    def allow_repair(self, now: float) -> bool:
        self._trim(now)
        if len(self.moves) >= self.max_moves:
            self.latched = True
        return not self.latched

    def record_repair(self, now: float) -> None:
        self._trim(now)
        self.moves.append(now)

    def transition(self) -> None:
        self.latched = False
        self.moves.clear()


class InstanceWorker:
    def __init__(self, agent: Agent, inst: InstanceSpec) -> None:
        self.agent = agent
        self.inst = inst
        self.cond = threading.Condition()
        self.role = "UNKNOWN"
        self.stamp: Stamp = ZERO  # the newest accepted transition's place in keepalived's order
        self.gen = 0
        self.done_gen = 0
        self.repair = False
        self.busy = False
        self.stopping = False
        cfg = agent.settings.agent
        self.damper = Damper(cfg.damping_max_moves, cfg.damping_window)
        self.thread = threading.Thread(target=self._run, name=f"worker-{inst.name}", daemon=True)
        self.thread.start()

    def submit(self, state: str, stamp: Stamp) -> int:
        """Called with the agent's order lock held, for a transition the sequence accepted."""
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
            self.damper.transition()
            self.agent.metrics.split_brain.labels(self.inst.name).set(0)
            self.cond.notify_all()
            return self.gen

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
        with self.cond:
            return not self.busy and self.gen == self.done_gen and not self.repair

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self.stopping and self.gen == self.done_gen and not self.repair:
                    self.cond.wait()
                if self.stopping:
                    return
                gen, role, repair = self.gen, self.role, self.repair and self.gen == self.done_gen
                self.repair = False
                self.busy = True
            try:
                if role == "MASTER":
                    self._takeover(gen, "drift" if repair else "transition")
            except Exception:  # a worker must survive anything to serve the next transition
                log.exception("%s: takeover crashed", self.inst.name)
                self.agent.metrics.takeovers.labels(self.inst.name, "failed").inc()
            finally:
                with self.cond:
                    self.done_gen = max(self.done_gen, gen)
                    self.busy = False
                    self.cond.notify_all()

    def _guard(self, gen: int) -> Callable[[], None]:
        seq = self.agent.sequence(self.inst.name)

        def guard() -> None:
            at = time.monotonic()  # stamped before the check: the audit log never flatters us
            if self.gen != gen:
                raise Superseded(f"{self.inst.name}: transition {gen} superseded by {self.gen}")
            # A hook that did the work itself (the agent did not answer in time) advanced the
            # shared sequence: a newer keepalived transition, whichever path carried it.
            seq.check(self.stamp)
            self.agent.on_mutation(self.inst.name, gen, at)

        return guard

    def _takeover(self, gen: int, reason: str) -> None:
        agent, name = self.agent, self.inst.name
        deadline = Deadline(agent.settings.agent.takeover_deadline)
        if reason == "drift" and not self.damper.allow_repair(time.monotonic()):
            agent.metrics.damped.labels(name).inc()
            agent.metrics.split_brain.labels(name).set(1)
            log.error(
                "%s: DAMPED drift repair: %d repairs in %.0fs since keepalived's last "
                "transition; another node also claims MASTER (split brain?). Leaving EC2 as "
                "it is until keepalived reports a new transition.",
                name,
                len(self.damper.moves),
                self.damper.window,
            )
            return
        engine = agent.lease_engine()
        try:
            outcome = engine.takeover(self.inst, deadline, self._guard(gen))
        except Superseded as exc:
            agent.metrics.takeovers.labels(name, "superseded").inc()
            log.info("%s", exc)
            return
        except (AwsError, ConfigError) as exc:
            agent.metrics.takeovers.labels(name, "failed").inc()
            log.error("%s: takeover failed: %s", name, exc)
            return
        finally:
            engine.release()
        if not outcome.planned:
            agent.metrics.takeovers.labels(name, "noop").inc()
            return
        if reason == "drift":
            self.damper.record_repair(time.monotonic())
            agent.metrics.drift_repairs.labels(name).inc()
        agent.metrics.takeover_seconds.labels(name).observe(outcome.seconds)
        if outcome.complete:
            agent.metrics.takeovers.labels(name, "converged").inc()
            log.info(
                "%s: %s: converged on %s in %.3fs (%d mutating calls)",
                name,
                reason,
                outcome.eni_id,
                outcome.seconds,
                outcome.mutating_calls,
            )
        else:
            agent.metrics.takeovers.labels(name, "partial").inc()
            log.error(
                "%s: %s: incomplete after %.1fs; NOT moved: %s; errors: %s",
                name,
                reason,
                outcome.seconds,
                ", ".join(outcome.not_moved),
                " | ".join(outcome.errors) or "-",
            )


def default_engine_factory(settings: Settings, metrics: Metrics) -> Engine:
    from awsfailover.failover.engine import build_engine

    return build_engine(settings, metrics)


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
    ) -> None:
        from prometheus_client import CollectorRegistry

        self.settings = settings
        self.config_path = config_path
        self.fifo = fifo or settings.agent.fifo
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = Metrics(self.registry)
        self.engine_factory = engine_factory
        self.addresses = addresses
        self.engine = engine_factory(settings, self.metrics)
        self._engine_lock = threading.Lock()
        self.workers: dict[str, InstanceWorker] = {}
        self._sequences: dict[str, Sequence] = {}
        # Held while a transition is placed in keepalived's order and handed to its worker,
        # and while the FIFO is read: the two channels are merged one line at a time.
        self._order = threading.RLock()
        self._fifo: FifoReader | None = None
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.last_reconcile_ok: float | None = None
        self.mutation_log: list[tuple[float, str, int]] = []  # (time, instance, generation)
        self._threads: list[threading.Thread] = []
        self._sock: socket.socket | None = None
        self._lock_fd: int | None = None
        self._http: Any = None
        self.ready = threading.Event()

    # --- transitions ---------------------------------------------------------------------

    def on_mutation(self, instance: str, gen: int, at: float) -> None:
        if len(self.mutation_log) < 10_000:  # an audit trail for tests, bounded
            self.mutation_log.append((at, instance, gen))

    def sequence(self, name: str) -> Sequence:
        seq = self._sequences.get(name)
        if seq is None:
            f = self.settings.failover
            seq = self._sequences[name] = Sequence(name, f.state_dir, f.fallback_state_dir)
        return seq

    def dispatch(self, t: Transition, source: str, stamp: Stamp | None = None) -> int | None:
        """Place a transition in keepalived's order; the worker's generation when it is the
        newest, None when a newer one was already seen (it must not act)."""
        worker = self.workers.get(t.name)
        if worker is None:
            raise ConfigError(
                f"unknown instance {t.name!r} (configured: {', '.join(self.workers) or 'none'})"
            )
        stamp = stamp or t.stamp or now_stamp()
        with self._order:
            if not self.sequence(t.name).advance(stamp, t.state):
                log.info(
                    "%s: %s %s from %s (transition %s) already overtaken; ignored",
                    t.name,
                    t.kind,
                    t.state,
                    source,
                    format_stamp(stamp),
                )
                self.metrics.handoffs.labels(f"{source}-overtaken").inc()
                return None
            self.metrics.handoffs.labels(source).inc()
            self.metrics.set_state(t.name, t.state)
            gen = worker.submit(t.state, stamp)
        log.info(
            "%s: %s %s from %s (transition %s, generation %d)",
            t.name,
            t.kind,
            t.state,
            source,
            format_stamp(stamp),
            gen,
        )
        return gen

    def _fifo_line(self, raw: bytes) -> None:
        t = parse_line(raw.decode(errors="replace"))
        if t is None or t.stamp is not None:  # keepalived never writes a stamp
            log.debug("fifo: ignoring %r", raw[:100])
            return
        try:
            self.dispatch(t, "fifo", now_stamp())
        except ConfigError as exc:
            log.warning("fifo: %s", exc)

    def handoff(self, t: Transition) -> str:
        """A hook's transition. Every line keepalived wrote to the FIFO before this hook was
        forked is read first, so the hook is placed after them (or found overtaken)."""
        if self._fifo is not None:
            self._fifo.pump()
        gen = self.dispatch(t, "hook")
        return "overtaken" if gen is None else f"generation {gen}"

    def _sync_workers(self) -> None:
        wanted = {i.name: i for i in self.settings.specs}
        for name in list(self.workers):
            if name not in wanted:
                self.workers.pop(name).stop()
        for name, inst in wanted.items():
            if name in self.workers:
                self.workers[name].inst = inst
            else:
                self.workers[name] = InstanceWorker(self, inst)
                self.metrics.set_state(name, "UNKNOWN")

    def detect_startup_state(self) -> None:
        """keepalived puts the VIPs on the master's interface: VIP present -> we are master.
        A routes-only instance has nothing to look at: its last state is in the sequence file
        (tmpfs: kept across an agent restart, gone after a reboot)."""
        seen: dict[str, set[str]] = {}
        for inst in self.settings.specs:
            interface = inst.interface or self.settings.node.interface
            if interface not in seen:
                seen[interface] = self.addresses(interface)
            present = seen[interface]
            rec = self.sequence(inst.name).current()
            if rec is not None:
                # what was recorded before we started is known, not news to follow later
                self.workers[inst.name].stamp = rec.stamp
            if not inst.vips:
                if rec is not None and rec.state == "MASTER":
                    log.info(
                        "%s: last keepalived state MASTER (%s): resuming",
                        inst.name,
                        format_stamp(rec.stamp),
                    )
                    with self._order:
                        self.workers[inst.name].submit("MASTER", rec.stamp)
                    self.metrics.set_state(inst.name, "MASTER")
                else:
                    log.info(
                        "%s: no VIP to detect mastership from and no recorded MASTER; "
                        "waiting for keepalived",
                        inst.name,
                    )
                continue
            if set(inst.vips) & present:
                log.info(
                    "%s: VIP present on %s at start: this node is MASTER", inst.name, interface
                )
                self.dispatch(Transition("INSTANCE", inst.name, "MASTER"), "startup")
            else:
                log.info("%s: VIP not on %s at start: not master", inst.name, interface)

    def _adopt_recorded(self) -> None:
        """A hook that could not reach us did the work itself and recorded its transition:
        follow it, so a drift repair never undoes a newer keepalived decision."""
        for name, worker in list(self.workers.items()):
            rec = self.sequence(name).current()
            with self._order:
                if rec is not None and rec.stamp > worker.stamp:
                    log.info(
                        "%s: %s recorded by a hook (%s); following it",
                        name,
                        rec.state,
                        format_stamp(rec.stamp),
                    )
                    self.metrics.set_state(name, rec.state)
                    worker.submit(rec.state, rec.stamp)

    # --- engine --------------------------------------------------------------------------

    def lease_engine(self) -> Engine:
        """The current engine, kept open until released even if a reload replaces it."""
        with self._engine_lock:
            return self.engine.acquire()

    # --- reconcile -----------------------------------------------------------------------

    def reconcile(self) -> bool:
        self._adopt_recorded()
        insts = self.settings.specs
        engine = self.lease_engine()
        try:
            observed = engine.observe_all(insts, Deadline(self.settings.agent.takeover_deadline))
        except AwsFailoverError as exc:
            log.warning("reconcile failed: %s", exc)
            return False
        finally:
            engine.release()
        from awsfailover.core.plan import item_names, items_at
        from awsfailover.core.plan import plan as make_plan

        self.last_reconcile_ok = time.monotonic()
        self.metrics.last_reconcile.set(time.time())
        for inst in insts:
            obs = observed[inst.name]
            self.metrics.set_items(
                inst.name, items_at(inst, obs, obs.local.eni_id), item_names(inst, obs)
            )
            worker = self.workers.get(inst.name)
            if worker is None or worker.role != "MASTER" or not worker.idle():
                continue
            try:
                drift = make_plan(inst, observed[inst.name]).actions
            except ConfigError as exc:
                log.error("%s: reconcile: %s", inst.name, exc)
                continue
            if drift:
                log.warning("%s: drift: %s", inst.name, "; ".join(a.describe() for a in drift))
                worker.request_repair()
        return True

    def healthy(self) -> tuple[bool, str]:
        if self._fifo is not None and not self._fifo.same_file():
            return False, f"fifo {self._fifo.path} was replaced or removed and is not read"
        if self.last_reconcile_ok is None:
            return False, "no successful reconcile yet"
        age = time.monotonic() - self.last_reconcile_ok
        if age > self.settings.agent.health_age:
            return False, f"last successful reconcile {age:.0f}s ago (EC2 unreachable?)"
        if self.metrics.last_ec2_error is not None:
            return False, f"last EC2 call failed ({self.metrics.last_ec2_error})"
        return True, f"ok; last reconcile {age:.1f}s ago"

    # --- reload --------------------------------------------------------------------------

    def reload(self) -> bool:
        """Build the new engine first, swap, and let the old one finish the takeovers that
        hold it: a reload never aborts a takeover in flight."""
        try:
            new = load_settings(self.config_path)
            engine = self.engine_factory(new, self.metrics)
            engine.learn_ipv4_limit(Deadline(new.agent.takeover_deadline))
        except Exception as exc:  # whatever the file holds, the running config stays
            log.error("reload rejected, keeping the running config: %s", exc)
            return False
        for key in ("fifo", "socket", "metrics_address"):
            if getattr(new.agent, key) != getattr(self.settings.agent, key):
                log.warning("reload: agent.%s changed; takes effect at restart", key)
        with self._engine_lock:
            old, self.engine = self.engine, engine
        with self._order:
            if new.failover != self.settings.failover:
                self._sequences.clear()
            self.settings = new
            self._sync_workers()
        old.retire()
        log.info("reloaded config: %d instances", len(new.instances))
        return True

    # --- inputs --------------------------------------------------------------------------

    def _fifo_loop(self, reader: FifoReader) -> None:
        sel = selectors.DefaultSelector()
        fd = reader.fd
        sel.register(fd, selectors.EVENT_READ)
        next_check = time.monotonic() + 1.0
        try:
            while not self._stop.is_set():
                if sel.select(timeout=0.2):
                    reader.pump()
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + 1.0
                    reader.reopen_if_replaced()
                    if reader.fd != fd and reader.fd >= 0:
                        sel.unregister(fd)
                        fd = reader.fd
                        sel.register(fd, selectors.EVENT_READ)
        finally:
            sel.close()
            reader.close()

    def _socket_loop(self, sock: socket.socket) -> None:
        sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                try:
                    conn.sendall(self._answer(conn).encode())
                except OSError as exc:
                    log.debug("hand-off connection: %s", exc)

    def _answer(self, conn: socket.socket) -> str:
        end = time.monotonic() + 1.0
        data = b""
        while not data.endswith(b"\n") and len(data) <= defaults.MAX_LINE:
            conn.settimeout(max(0.01, end - time.monotonic()))
            chunk = conn.recv(defaults.MAX_LINE + 1)
            if not chunk:
                break
            data += chunk
        t = parse_line(data.decode(errors="replace")) if len(data) <= defaults.MAX_LINE else None
        if t is None:
            return "ERR 2 expected TYPE NAME STATE [PRIORITY] [@NS:PID]\n"
        try:
            return f"OK {self.handoff(t)}\n"
        except ConfigError as exc:
            return f"ERR 2 {exc}\n"

    def _claim(self, path: Path) -> None:
        """One agent per socket: a second one would steal the socket and orphan the first
        (whose /healthz would still say 200). A lock held for our lifetime, plus a probe for an
        agent that answers on the socket without holding the lock."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_path = path.with_name(path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"agent.socket: another agent is running on {path} (holds {lock_path})"
            ) from None
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
        except OSError:
            pass
        else:
            os.close(fd)
            raise ConfigError(f"agent.socket: another agent answers on {path}")
        finally:
            probe.close()
        self._lock_fd = fd

    def _open_socket(self, path: Path) -> socket.socket:
        self._claim(path)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(path.lstat().st_mode):
                path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # born 0600: no window where others could connect
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        path.chmod(0o600)
        sock.listen(64)
        return sock

    def _start_metrics(self, address: str) -> None:
        from wsgiref.simple_server import WSGIRequestHandler, make_server

        from prometheus_client import make_wsgi_app
        from prometheus_client.exposition import ThreadingWSGIServer

        metrics_app = make_wsgi_app(self.registry)
        agent = self

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                ok, why = agent.healthy()
                body = (why + "\n").encode()
                start_response(
                    "200 OK" if ok else "503 Service Unavailable",
                    [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
                )
                return [body]
            return metrics_app(environ, start_response)  # type: ignore[no-any-return]

        host, port = split_host_port(address)
        # The family of the address, as prometheus_client's own start_wsgi_server picks it:
        # "[::1]:9108" needs an AF_INET6 socket.
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

        class Server(ThreadingWSGIServer):
            address_family = family

        class Quiet(WSGIRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

        self._http = make_server(host, port, app, server_class=Server, handler_class=Quiet)
        self._spawn(self._http.serve_forever, "metrics")
        shown = f"[{host}]" if ":" in host else host
        log.info("metrics and /healthz on http://%s:%d", shown, self._http.server_port)

    @property
    def metrics_port(self) -> int | None:
        return int(self._http.server_port) if self._http is not None else None

    def _spawn(self, fn: Callable[..., None], name: str, *args: Any) -> None:
        t = threading.Thread(target=fn, args=args, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    # --- lifecycle -----------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    def install_signal_handlers(self) -> None:
        # Handlers only set flags; the main loop acts on them.
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGINT, lambda *_: self._stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload.set())

    def run(self) -> int:
        cfg = self.settings.agent
        try:
            self._sock = self._open_socket(cfg.socket)
        except OSError as exc:
            raise ConfigError(f"agent.socket: cannot listen on {cfg.socket}: {exc}") from exc
        try:
            self._start(cfg)
            next_reconcile = time.monotonic()
            self.ready.set()
            while not self._stop.is_set():
                if self._reload.is_set():
                    self._reload.clear()
                    self.reload()
                if time.monotonic() >= next_reconcile:
                    self.reconcile()
                    next_reconcile = time.monotonic() + self.settings.agent.reconcile_interval
                self._stop.wait(min(0.2, max(0.0, next_reconcile - time.monotonic())))
        finally:
            self._shutdown()
        return 0

    def _start(self, cfg: AgentSettings) -> None:
        self._sync_workers()
        if self.fifo is not None:
            try:
                self._fifo = FifoReader(self.fifo, self._fifo_line, self._order)
            except OSError as exc:
                raise ConfigError(f"agent.fifo: cannot open {self.fifo}: {exc}") from exc
            self._spawn(self._fifo_loop, "fifo", self._fifo)
        self._spawn(self._socket_loop, "handoff", self._sock)
        if cfg.metrics_address:
            try:
                self._start_metrics(cfg.metrics_address)
            except OSError as exc:
                raise ConfigError(f"agent.metrics_address: {cfg.metrics_address}: {exc}") from exc
        self.engine.learn_ipv4_limit(Deadline(cfg.takeover_deadline))
        self.detect_startup_state()
        log.info(
            "agent up: %d instances, fifo %s, socket %s",
            len(self.workers),
            self.fifo or "-",
            cfg.socket,
        )

    def _shutdown(self) -> None:
        log.info("agent stopping")
        if self._sock is not None:
            self._sock.close()
            with contextlib.suppress(OSError):
                self.settings.agent.socket.unlink()
        # Let a takeover in flight finish (bounded by its deadline) rather than leave EC2
        # half-moved; start nothing new.
        end = time.monotonic() + self.settings.agent.takeover_deadline + 1.0
        for w in self.workers.values():
            w.stop()
        for w in self.workers.values():
            w.thread.join(timeout=max(0.0, end - time.monotonic()))
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        for t in self._threads:
            t.join(timeout=1.0)
        self.engine.retire()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
        log.info("agent stopped")
