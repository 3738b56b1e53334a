"""The split-brain damper on a hand-driven clock."""

from __future__ import annotations

from awsfailover.agent.damper import Damper


def test_allows_max_moves_per_window_then_latches_until_a_transition() -> None:
    d = Damper(max_moves=2, window=10.0)
    assert d.allow_repair(0.0)
    d.record_repair(0.0)
    assert d.allow_repair(1.0)
    d.record_repair(1.0)
    assert not d.allow_repair(2.0)  # a third repair within the window: latched
    assert not d.allow_repair(50.0)  # latched, even after the window: the last move stands
    assert d.transition() is True  # keepalived spoke: reset, and it had latched
    assert d.allow_repair(50.0) and not d.latched
    assert d.transition() is False


def test_old_repairs_leave_the_window() -> None:
    d = Damper(max_moves=2, window=10.0)
    d.record_repair(0.0)
    d.record_repair(5.0)
    assert d.allow_repair(10.5)  # the repair at 0 is past the window
    assert list(d.moves) == [5.0]
    d.record_repair(10.5)
    assert not d.allow_repair(11.0)
