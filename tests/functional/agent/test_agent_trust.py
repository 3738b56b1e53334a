"""Issue 17, item 3: keepalived's view of the agent comes from what only the agent's user can
create (its 0600 hand-off socket), not from a TCP port any local user can bind while the agent
is down; a socket someone else made is believed by nobody; a busy metrics port is a warning
and a retry, not a fatal error."""

from __future__ import annotations

import logging
import os
import pwd
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from helpers.agents import Running, make_agent, wait_for, write_config
from helpers.nodes import Node, mutating_calls, need

from awsfailover.sim.world import VIP4, holder


def _check(cfg: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "awsfailover", "--config", str(cfg), "keepalived-check", "agent"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


class Answers200(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def squatter() -> Iterator[int]:
    """A local user's HTTP server on the port the agent would use, answering 200."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers200)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_squatted_metrics_port_does_not_make_keepalived_believe_an_agent_runs(
    env, tmp_path: Path, squatter: int
) -> None:
    _sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    cfg.write_text(cfg.read_text().replace("127.0.0.1:0", f"127.0.0.1:{squatter}"))
    r = _check(cfg)  # no agent runs: its socket does not exist
    assert r.returncode == 1, r.stdout + r.stderr


def test_the_check_asks_the_agent_on_its_socket(env, tmp_path: Path) -> None:
    _sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    with Running(make_agent(cfg)) as agent:
        assert wait_for(lambda: agent.healthy()[0])
        assert _check(cfg).returncode == 0
    assert _check(cfg).returncode == 1  # stopped: the socket is gone


def _fake_agent(path: Path, uid: int) -> socket.socket:
    """A socket that answers OK to anything, as a local user would leave it."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    os.chown(path, uid, -1)
    path.chmod(0o666)
    server.listen(8)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(300)
                conn.sendall(b"OK generation 1\n")

    threading.Thread(target=serve, daemon=True).start()
    return server


def test_a_socket_another_user_made_is_believed_by_nobody(world, tmp_path: Path, sim) -> None:
    if os.geteuid() != 0:
        need("root, to give the socket to another user")
    nobody = pwd.getpwnam("nobody").pw_uid
    sock_dir = tmp_path / "sockdir"
    sock_dir.mkdir()
    sock = sock_dir / "agent.sock"
    server = _fake_agent(sock, nobody)
    try:
        node = Node(world, world.eni_b, tmp_path, "b", extra=f'[agent]\nsocket = "{sock}"\n')
        r = node.master()
        assert r.code == 0, r.err
        assert mutating_calls(sim) > 0  # the hook did the work itself
        from awsfailover.sim.world import ec2_client

        assert holder(ec2_client(world.endpoint_url), VIP4) == [world.eni_b]
        assert _check(node.config).returncode == 1
    finally:
        server.close()


def test_a_busy_metrics_port_is_a_warning_and_a_retry(
    env, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from awsfailover.agent import http

    monkeypatch.setattr(http, "METRICS_RETRY", 0.2)
    _sim, world = env
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    cfg.write_text(cfg.read_text().replace("127.0.0.1:0", f"127.0.0.1:{port}"))
    caplog.set_level(logging.WARNING)
    with Running(make_agent(cfg)) as agent:
        assert agent.metrics_port is None
        assert "METRICS PORT BUSY" in caplog.text
        blocker.close()
        assert wait_for(lambda: agent.metrics_port == port, timeout=5)
        import urllib.request

        deadline = time.monotonic() + 5
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
