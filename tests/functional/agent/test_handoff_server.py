"""The hand-off socket answers several hooks at once: a client that connects and sends nothing
(a hook stuck in its start, or a hostile local user) delays nobody; stop wakes the server."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from awsfailover.agent import handoff_server
from awsfailover.agent.handoff_server import CONCURRENT_HOOKS, HandoffServer
from awsfailover.agent.wakeup import Wakeup
from awsfailover.keepalived.protocol import Transition


def test_idle_clients_do_not_hold_up_a_hook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Idle clients are waited for 10 s, not 1: on a loaded machine the hook's answer may take
    # more than a second, and an idle client's ERR must still be sure to come after it.
    monkeypatch.setattr(handoff_server, "READ_TIMEOUT", 10.0)
    path = tmp_path / "agent.sock"
    seen: list[Transition] = []
    wake = Wakeup()
    server = HandoffServer(path, lambda t: seen.append(t) or "generation 7", wake.stop_fd)
    server.open()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    idle = []
    try:
        for _ in range(CONCURRENT_HOOKS - 1):
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(path))
            idle.append(s)
        hook = socket.socket(socket.AF_UNIX)
        hook.settimeout(30)
        hook.connect(str(path))
        hook.sendall(b'INSTANCE "VI_1" MASTER 100 @5:6\n')
        answer = hook.recv(100)
        hook.close()
        # answered while every idle client is still being waited for (each gets its ERR only
        # when its own read times out), so it did not queue behind them
        for s in idle:
            s.setblocking(False)
            try:
                early = s.recv(100)
            except BlockingIOError:
                early = None
            assert early is None, early
        assert answer == b"OK generation 7\n"
        assert seen == [Transition("INSTANCE", "VI_1", "MASTER", 100, (5, 6))]
    finally:
        for s in idle:
            s.close()
        wake.request("stop")
        thread.join(timeout=30)
        server.close()
        wake.close()
    assert not thread.is_alive()
    assert not path.exists()


def test_stop_wakes_a_waiting_loop() -> None:
    wake = Wakeup()
    got: list[set[str]] = []
    t = threading.Thread(target=lambda: got.append(wake.wait(600)), daemon=True)
    t.start()
    wake.request("reload")
    t.join(timeout=30)
    assert got == [{"reload"}]
    wake.request("stop")
    assert wake.wait(600) == {"stop"}  # returns at once: stop stays readable
    wake.close()
