"""keepalived's notify lines, as the FIFO and the hand-off socket carry them, and the FIFO
reader's line splitting (bounded, streaming)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from awsfailover import defaults
from awsfailover.keepalived.fifo import FifoReader
from awsfailover.keepalived.protocol import Transition, parse_args, parse_line


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ('INSTANCE "VI_1" MASTER 100', Transition("INSTANCE", "VI_1", "MASTER", 100)),
        ("GROUP G1 BACKUP", Transition("GROUP", "G1", "BACKUP")),
        ('  instance "a.b:c-d" fault -5  ', Transition("INSTANCE", "a.b:c-d", "FAULT", -5)),
        (
            'INSTANCE "VI_1" MASTER 100 @123456789:4242',
            Transition("INSTANCE", "VI_1", "MASTER", 100, (123456789, 4242)),
        ),
    ],
)
def test_lines_keepalived_and_the_hook_write(line: str, want: Transition) -> None:
    assert parse_line(line) == want
    assert parse_line(want.line()) == want  # the hand-off line round-trips


@pytest.mark.parametrize(
    "line",
    [
        "",
        "VRRP_Script(chk) succeeded",  # keepalived's other FIFO lines
        'INSTANCE "VI_1" MASTERFUL 100',
        'INSTANCE "bad name" MASTER',
        'INSTANCE "VI_1" MASTER 100 @1:2 extra',
        'INSTANCE "' + "x" * 65 + '" MASTER',
        "INSTANCE VI_1 MASTER 1234567",
    ],
)
def test_anything_else_is_not_a_transition(line: str) -> None:
    assert parse_line(line) is None


def test_hook_arguments_are_checked() -> None:
    assert parse_args("instance", "VI_1", "master", "100") == Transition(
        "INSTANCE", "VI_1", "MASTER", 100
    )
    for args in (("HOST", "VI_1", "MASTER", None), ("INSTANCE", "VI_1", "UP", None)):
        with pytest.raises(ValueError):
            parse_args(*args)
    with pytest.raises(ValueError, match="PRIORITY"):
        parse_args("INSTANCE", "VI_1", "MASTER", "high")


def test_fifo_reader_splits_lines_and_drops_overlong_ones(tmp_path: Path) -> None:
    fifo = tmp_path / "notify.fifo"
    got: list[bytes] = []
    reader = FifoReader(fifo, got.append, threading.RLock())
    try:
        w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(w, b'INSTANCE "VI_1" BACK')  # a line split across writes
            reader.pump()
            os.write(w, b"UP 100\n" + b"x" * (defaults.MAX_LINE + 10) + b'\nGROUP "G" MASTER\n')
            reader.pump()
        finally:
            os.close(w)
    finally:
        reader.close()
    assert got == [b'INSTANCE "VI_1" BACKUP 100', b'GROUP "G" MASTER']
    assert reader.dropped == 1
