"""The agent's health file for keepalived's track_file: written when the value changes only
(health events can come in bursts; each write is a file replaced by rename)."""

from __future__ import annotations

from pathlib import Path

from awsfailover.agent.events import HealthChanged
from awsfailover.agent.trackers import KeepalivedTrackers


def test_the_health_file_is_written_on_a_change_only(tmp_path: Path) -> None:
    health = tmp_path / "agent-health"
    trackers = KeepalivedTrackers(lambda: tmp_path, None)
    trackers(HealthChanged(False, "no reconcile yet"))
    assert health.read_text() == "1\n"
    health.write_text("7\n")  # marks the file: a write would replace it
    for _ in range(2000):
        trackers(HealthChanged(False, "still not"))
    assert health.read_text() == "7\n"
    trackers(HealthChanged(True, "ok"))
    assert health.read_text() == "0\n"
    trackers.stopped()
    assert health.read_text() == "0\n"


def test_a_failed_write_is_tried_again(tmp_path: Path) -> None:
    missing = tmp_path / "not-yet"
    trackers = KeepalivedTrackers(lambda: missing, None)
    trackers(HealthChanged(False, "x"))  # no directory: logged, not raised
    missing.mkdir()
    trackers(HealthChanged(False, "x"))
    assert (missing / "agent-health").read_text() == "1\n"


def test_a_maintenance_change_is_an_event_once(tmp_path: Path) -> None:
    from awsfailover.agent.events import MaintenanceChanged, TransitionEvent
    from awsfailover.failover.sequence import ZERO
    from awsfailover.keepalived.checks import write_tracker

    got: list[object] = []
    trackers = KeepalivedTrackers(lambda: tmp_path, None, got.append)
    fault = TransitionEvent("VI_1", "INSTANCE", "FAULT", "fifo", ZERO, 3)
    trackers.ready()  # learns: off (no file)
    trackers(fault)
    assert got == []
    write_tracker(tmp_path / "maintenance", 1)
    trackers(fault)
    trackers(fault)
    assert got == [MaintenanceChanged(True)]
    write_tracker(tmp_path / "maintenance", 0)
    trackers(fault)
    assert got == [MaintenanceChanged(True), MaintenanceChanged(False)]
