"""keepalived's order, as the agent keeps it: every transition, whichever channel carried it
(the FIFO, a hook's hand-off, the agent's own start-up, or a record a hook left when it could
not reach us), is placed in the instance's sequence and handed to its worker only when it is
the newest. One lock merges the channels one line at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from awsfailover.agent.events import Bus, InputFailed, TransitionEvent
from awsfailover.agent.sequences import Sequences
from awsfailover.agent.worker import InstanceWorker
from awsfailover.errors import ConfigError
from awsfailover.failover.sequence import Stamp, format_stamp, now_stamp
from awsfailover.keepalived.fifo import FifoReader
from awsfailover.keepalived.protocol import Transition, parse_line

__all__ = ["Ordering"]

log = logging.getLogger(__name__)


class Ordering:
    def __init__(
        self, sequences: Sequences, workers: Mapping[str, InstanceWorker], events: Bus
    ) -> None:
        self.sequences = sequences
        self.workers = workers
        self.events = events
        # Held while a transition is placed in keepalived's order and handed to its worker,
        # and while the FIFO is read: the two channels are merged one line at a time.
        self.lock = threading.RLock()
        self.fifo: FifoReader | None = None

    def dispatch(self, t: Transition, source: str, stamp: Stamp | None = None) -> int | None:
        """Place a transition in keepalived's order; the worker's generation when it is the
        newest, None when a newer one was already seen (it must not act)."""
        worker = self.workers.get(t.name)
        if worker is None:
            raise ConfigError(
                f"unknown instance {t.name!r} (configured: {', '.join(self.workers) or 'none'})"
            )
        stamp = stamp or t.stamp or now_stamp()
        with self.lock:
            if not self.sequences(t.name).advance(stamp, t.state):
                log.info(
                    "%s: %s %s from %s (transition %s) already overtaken; ignored",
                    t.name,
                    t.kind,
                    t.state,
                    source,
                    format_stamp(stamp),
                )
                self.events.emit(TransitionEvent(t.name, t.kind, t.state, source, stamp, None))
                return None
            gen = worker.submit(t.state, stamp)
            self.events.emit(TransitionEvent(t.name, t.kind, t.state, source, stamp, gen))
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

    def fifo_line(self, raw: bytes) -> None:
        t = parse_line(raw.decode(errors="replace"))
        if t is None or t.stamp is not None:  # keepalived never writes a stamp
            log.debug("fifo: ignoring %r", raw[:100])
            return
        try:
            self.dispatch(t, "fifo", now_stamp())
        except ConfigError as exc:
            log.warning("fifo: %s", exc)
        except Exception as exc:  # one line must never stop the reader
            self.events.emit(InputFailed("fifo", f"{type(exc).__name__}: {exc}"))

    def handoff(self, t: Transition) -> str:
        """A hook's transition. Every line keepalived wrote to the FIFO before this hook was
        forked is read first, so the hook is placed after them (or found overtaken)."""
        if self.fifo is not None:
            self.fifo.pump()
        gen = self.dispatch(t, "hook")
        return "overtaken" if gen is None else f"generation {gen}"

    def follow(self, name: str, state: str, stamp: Stamp, source: str) -> None:
        """Hand a transition already in the sequence (recorded before we looked) to its
        worker: it is not placed again, only followed."""
        worker = self.workers[name]
        with self.lock:
            gen = worker.submit(state, stamp)
            self.events.emit(TransitionEvent(name, "INSTANCE", state, source, stamp, gen))

    def adopt_recorded(self) -> None:
        """A hook that could not reach us did the work itself and recorded its transition:
        follow it, so a drift repair never undoes a newer keepalived decision."""
        for name, worker in list(self.workers.items()):
            rec = self.sequences(name).current()
            with self.lock:
                if rec is not None and rec.stamp > worker.stamp:
                    log.info(
                        "%s: %s recorded by a hook (%s); following it",
                        name,
                        rec.state,
                        format_stamp(rec.stamp),
                    )
                    self.follow(name, rec.state, rec.stamp, "recorded")
