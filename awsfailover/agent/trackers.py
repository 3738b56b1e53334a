"""What keepalived's own trackers read from the agent, so keepalived starts no process for us:
its health in a track file (1 while unhealthy: -50 priority) and its process name, which
vrrp_track_process follows through the kernel's process events (-50 while no process has it).
And the other way: the maintenance file keepalived tracks, read when keepalived reports a
state (maintenance on puts the instances in FAULT at once) and at each reconcile, becomes a
maintenance event when it changed.

A dead agent cannot write "unhealthy": its absence is the process tracker's to report, so a
stopping agent leaves the file at 0 and the two never count one fault twice (a crash while
unhealthy leaves 1 until the next agent's first health check).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from awsfailover import defaults
from awsfailover.agent.events import (
    Event,
    HealthChanged,
    MaintenanceChanged,
    Reconciled,
    TransitionEvent,
)
from awsfailover.keepalived.checks import maintenance_on, write_tracker

__all__ = ["KeepalivedTrackers"]

log = logging.getLogger(__name__)


class KeepalivedTrackers:
    """A bus listener (health changes) plus the agent's ready and stopped moments."""

    def __init__(
        self,
        state_dir: Callable[[], Path],
        process_name: str | None,
        emit: Callable[[Event], None] = lambda _e: None,
    ) -> None:
        self.state_dir = state_dir  # the running config's: a reload may move it
        self.process_name = process_name
        self.emit = emit
        self._maintenance: bool | None = None  # as last seen; None before the first look
        self._failed = False
        self._written: tuple[Path, int] | None = None  # only a change is worth a write

    def __call__(self, event: Event) -> None:
        if isinstance(event, HealthChanged):
            self._write(0 if event.ok else 1)
        elif isinstance(event, (TransitionEvent, Reconciled)):
            self.look_at_maintenance()

    def look_at_maintenance(self) -> None:
        """A maintenance event when the flag changed since the last look (the first look,
        at start, only learns it)."""
        on = maintenance_on(self.state_dir() / defaults.MAINTENANCE_FLAG)
        was, self._maintenance = self._maintenance, on
        if was is not None and was != on:
            log.warning("maintenance %s on this node", "ON" if on else "OFF")
            self.emit(MaintenanceChanged(on))

    def ready(self) -> None:
        """Take the name keepalived tracks: only now, with the FIFO, socket and clients up."""
        self.look_at_maintenance()
        if self.process_name is None:
            return
        try:
            # /proc/self/comm is the thread-group leader's name, the one keepalived reads
            Path("/proc/self/comm").write_text(self.process_name)
        except OSError as exc:
            log.warning(
                "cannot take the process name %s (%s): keepalived's vrrp_track_process "
                "counts this agent as down",
                self.process_name,
                exc.strerror or exc,
            )

    def stopped(self) -> None:
        self._write(0)

    def _write(self, value: int) -> None:
        path = self.state_dir() / defaults.AGENT_HEALTH_FILE
        if self._written == (path, value):
            return
        try:
            write_tracker(path, value)
        except OSError as exc:
            if not self._failed:  # once per agent: the reason does not change every minute
                log.warning(
                    "cannot write %s (%s): keepalived's awsfailover_agent_health tracker "
                    "does not see this agent's health",
                    path,
                    exc.strerror or exc,
                )
            self._failed = True
            self._written = None
        else:
            self._failed = False
            self._written = (path, value)
