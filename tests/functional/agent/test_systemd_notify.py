"""The agent speaks systemd's notify protocol (issue 19, item 3): READY=1 once its FIFO,
socket and clients are ready, RELOADING=1/READY=1 around SIGHUP, STOPPING=1, STATUS= with
each instance's role and last takeover, and WATCHDOG=1 every half WATCHDOG_USEC. A socket
the test binds stands in for systemd."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from helpers.agents import write_config
from helpers.paths import ROOT


def test_the_agent_notifies_systemd(env, tmp_path: Path) -> None:
    _sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    sock_path = tmp_path / "notify.sock"
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(sock_path))
    systemd.settimeout(0.2)
    got: list[tuple[float, list[str]]] = []

    def drain(until: float) -> None:
        while time.monotonic() < until:
            try:
                data = systemd.recv(4096)
            except TimeoutError:
                continue
            got.append((time.monotonic(), data.decode().split("\n")))

    def seen(key: str) -> list[tuple[float, list[str]]]:
        return [(t, m) for t, m in got if any(f.startswith(key) for f in m)]

    fifo = tmp_path / "b" / "notify.fifo"
    log = tmp_path / "agent.log"
    env_ = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "awsfailover", "--config", str(cfg), "agent"],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=env_,
    )
    try:
        drain(time.monotonic() + 3)
        ready = seen("READY=1")
        assert ready, got
        # READY only once the FIFO and the hand-off socket exist and the log says so
        assert "agent up" in log.read_text()
        assert fifo.exists() and (tmp_path / "b" / "agent.sock").exists()
        with fifo.open("w") as fh:
            fh.write('INSTANCE "VI_1" MASTER 100\n')
        drain(time.monotonic() + 2)
        statuses = [f for _t, m in seen("STATUS=") for f in m if f.startswith("STATUS=")]
        assert any(
            "VI_1 MASTER" in s and "last takeover: transition converged" in s for s in statuses
        ), statuses
        pings = [t for t, _m in seen("WATCHDOG=1")]
        assert len(pings) >= 6, pings  # every 0.5 s over ~5 s
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert max(gaps) < 1.0, gaps  # never a whole WATCHDOG_USEC without one
        before = len(got)
        proc.send_signal(signal.SIGHUP)
        drain(time.monotonic() + 1.5)
        after = [m for _t, m in got[before:]]
        reload_at = next(i for i, m in enumerate(after) if "RELOADING=1" in m)
        assert any(f.startswith("MONOTONIC_USEC=") for f in after[reload_at])
        assert any("READY=1" in m for m in after[reload_at + 1 :]), after
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        drain(time.monotonic() + 0.5)
        assert seen("STOPPING=1"), got
    finally:
        proc.kill()
        proc.wait()
        systemd.close()


def test_the_unit_declares_notify_and_a_watchdog() -> None:
    unit = (ROOT / "packaging" / "awsfailover-agent.service").read_text()
    assert "\nType=notify\n" in unit
    assert "\nNotifyAccess=main\n" in unit
    assert any(line.startswith("WatchdogSec=") for line in unit.splitlines())


def test_without_notify_socket_nothing_is_sent() -> None:
    from awsfailover.agent.systemd import Notifier

    n = Notifier({})
    assert n.address is None and n.ping_due(time.monotonic()) is None
    n.ready("x")  # a no-op, never an error
