"""keepalived's own trackers, as `keepalived-config --use-agent` renders them (issue 19), read
by a real keepalived: the agent's process name, its health file and the maintenance file.

The lab cannot show the process tracker: keepalived follows processes through the kernel's
process-events connector, which serves only the initial network namespace (in a lab node
keepalived logs "Failed to set/clear process event listen - errno 111"). So this keepalived
runs where a real appliance's does, in the initial namespace, on one end of a veth pair
whose other end is a test host in a namespace the test creates. What it does is read from
its VRRP adverts there: their priority field is keepalived's effective priority.

It runs alone in the lab's session (tests/e2e runs serially): another process named
awsfailoverd on the machine (a lab agent) would count as this node's agent.
"""

from __future__ import annotations

import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers.nodes import Node, need

from awsfailover import defaults
from awsfailover.keepalived.checks import write_tracker
from awsfailover.sim.world import World

HOST_IP, PEER_IP = "10.213.0.1", "10.213.0.2"
# prints each VRRP advert's priority, from inside the peer's namespace
LISTEN = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET,socket.SOCK_RAW,112)\n"
    "while True:\n"
    "    p=s.recv(2048); h=(p[0]&15)*4\n"
    "    print(p[h+2],flush=True)\n"
)
# the agent's own code names the process, then it idles until killed
AGENT = (
    "import time\n"
    "from pathlib import Path\n"
    "from awsfailover.agent.trackers import KeepalivedTrackers\n"
    f"KeepalivedTrackers(lambda: Path('/nonexistent'), {defaults.AGENT_PROCESS_NAME!r}).ready()\n"
    "print('named', flush=True)\n"
    "time.sleep(120)\n"
)


@dataclass
class Box:
    ns: str
    host_if: str
    adverts: queue.Queue[int]
    state: Path


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    if shutil.which("keepalived") is None:
        need("keepalived is not installed (.ci/run installs it)")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        need("needs root and ip for a network namespace")
    tag = secrets.token_hex(3)
    ns, host_if = f"aftp{tag}", f"aftp{tag}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    listener: subprocess.Popen[str] | None = None
    try:
        ip = ["ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns]
        subprocess.run(ip, check=True)
        subprocess.run(["ip", "addr", "add", f"{HOST_IP}/30", "dev", host_if], check=True)
        subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{PEER_IP}/30", "dev", "eth0"], check=True)
        subprocess.run(["ip", "-n", ns, "link", "set", "eth0", "up"], check=True)
        listener = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", LISTEN],
            stdout=subprocess.PIPE,
            text=True,
        )
        adverts: queue.Queue[int] = queue.Queue()

        def pump() -> None:
            assert listener is not None and listener.stdout is not None
            for line in listener.stdout:
                adverts.put(int(line))

        threading.Thread(target=pump, daemon=True).start()
        state = tmp_path / "a" / "run"
        yield Box(ns, host_if, adverts, state)
    finally:
        if listener is not None:
            listener.kill()
            listener.wait(timeout=10)
        # deleting the namespace deletes the veth pair, both ends, and keepalived's VIP on it
        subprocess.run(["ip", "netns", "del", ns], check=False)
        subprocess.run(["ip", "link", "del", host_if], check=False, capture_output=True)


def priority_becomes(adverts: queue.Queue[int], want: int, timeout: float = 10.0) -> float:
    """Seconds until an advert carries want; fails with the priorities seen meanwhile."""
    start = time.monotonic()
    seen: list[int] = []
    while (left := start + timeout - time.monotonic()) > 0:
        try:
            p = adverts.get(timeout=left)
        except queue.Empty:
            break
        if p == want:
            return time.monotonic() - start
        seen.append(p)
    raise AssertionError(f"no advert with priority {want} in {timeout}s; saw {seen[-10:]}")


def test_keepalived_follows_the_agent_s_name_health_and_maintenance(
    world: World, tmp_path: Path, box: Box
) -> None:
    node = Node(world, world.eni_a, tmp_path, "a")
    text = node.config.read_text().replace('interface = "lo"', f'interface = "{box.host_if}"')
    node.config.write_text(text)
    r = node.run("keepalived-config", "--self", HOST_IP, "--peer", PEER_IP, "--use-agent")
    assert r.code == 0, r.err
    assert "vrrp_track_process awsfailover_agent" in r.out
    conf = tmp_path / "keepalived.conf"
    conf.write_text(r.out.replace("advert_int 1\n", "advert_int 0.5\n    version 3\n"))
    box.state.mkdir(mode=0o700, parents=True, exist_ok=True)  # tmpfiles.d's job on an appliance
    d = tmp_path
    pids = ["-p", str(d / "k.pid"), "-r", str(d / "v.pid"), "-c", str(d / "c.pid")]
    keepalived = subprocess.Popen(
        ["keepalived", "-n", "-l", "-D", "-f", str(conf), *pids],
        stdout=(d / "keepalived.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    agent: subprocess.Popen[str] | None = None
    try:
        # no process named awsfailoverd: the agent's -50 (100 - 50)
        priority_becomes(box.adverts, 50, timeout=15)
        agent = subprocess.Popen([sys.executable, "-c", AGENT], stdout=subprocess.PIPE, text=True)
        assert agent.stdout is not None and agent.stdout.readline() == "named\n"
        named = priority_becomes(box.adverts, 100)
        health = box.state / defaults.AGENT_HEALTH_FILE
        write_tracker(health, 1)  # what the agent writes while unhealthy
        unhealthy = priority_becomes(box.adverts, 50)
        write_tracker(health, 0)
        priority_becomes(box.adverts, 100)
        agent.send_signal(signal.SIGKILL)  # a crash: nothing written, the name is gone
        agent.wait(timeout=10)
        died = priority_becomes(box.adverts, 50)
        write_tracker(box.state / defaults.MAINTENANCE_FLAG, 1)  # `maintenance on`
        resigned = priority_becomes(box.adverts, 0)  # FAULT: the priority-0 resignation
        print(
            f"\nkeepalived saw: agent named {named:.2f}s, unhealthy {unhealthy:.2f}s, "
            f"killed {died:.2f}s, maintenance on {resigned:.2f}s"
        )
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
        os.killpg(keepalived.pid, signal.SIGTERM)
        try:
            keepalived.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(keepalived.pid, signal.SIGKILL)
            keepalived.wait(timeout=10)
    log = (d / "keepalived.log").read_bytes().decode(errors="replace")
    assert "process event listen" not in log, log  # keepalived followed the process events
