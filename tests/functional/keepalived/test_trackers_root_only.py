"""Issue 19: a user other than root cannot change what keepalived's trackers see. Both track
files live in failover.state_dir, which awsfailover creates 0700 and root's; the agent's
process name is root's process, which no other user may rename or stop.

The commands run as `nobody` through setpriv. A control write to a world-writable file
beside the state directory proves the harness really writes as that user where it may."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.nodes import Node, need

from awsfailover import defaults
from awsfailover.agent.trackers import KeepalivedTrackers
from awsfailover.keepalived.checks import tracker_value
from awsfailover.sim.world import World

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


@pytest.fixture
def base() -> Iterator[Path]:
    """A directory every user may enter (pytest's tmp_path is root's 0700: a refusal there
    would prove nothing about the state directory itself)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        need("needs root and setpriv to act as another user")
    d = Path(tempfile.mkdtemp(prefix="aftrk"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d)


def as_nobody(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NOBODY, "sh", "-c", script], capture_output=True, text=True, timeout=30, check=False
    )


def test_no_other_user_can_change_either_track_file(world: World, base: Path) -> None:
    node = Node(world, world.eni_a, base, "a")
    node.dir.chmod(0o755)
    state = node.dir / "run"
    assert node.run("maintenance", "on").code == 0  # creates the state directory, as root
    KeepalivedTrackers(lambda: state, None)._write(1)  # the agent, unhealthy
    maint, health = state / defaults.MAINTENANCE_FLAG, state / defaults.AGENT_HEALTH_FILE
    assert (tracker_value(maint), tracker_value(health)) == (1, 1)
    control = base / "control"
    control.write_text("0\n")
    control.chmod(0o666)
    r = as_nobody(f"echo 5 > {control}")
    assert r.returncode == 0 and control.read_text() == "5\n", r.stderr  # the harness writes

    for attempt in (
        f"echo 0 > {maint}",
        f"echo 0 > {health}",
        f"rm -f {maint}",
        f"rm -f {health}",
        f"echo 0 > {state}/.new && mv {state}/.new {health}",
        f"ln -sf /dev/null {maint}",
        f"mv {state} {base}/moved",
    ):
        r = as_nobody(attempt)
        assert r.returncode != 0, attempt
    assert (tracker_value(maint), tracker_value(health)) == (1, 1)
    assert state.stat().st_uid == 0 and state.stat().st_mode & 0o077 == 0


def test_no_other_user_can_rename_or_stop_the_named_agent(base: Path) -> None:
    """The process tracker counts processes named awsfailoverd: another user cannot take
    that name from root's agent or end it (it can start a process of that name, which only
    hides a dead agent's -50, never moves mastership: the README says so)."""
    code = (
        "import pathlib,sys,time;"
        f"pathlib.Path('/proc/self/comm').write_text({defaults.AGENT_PROCESS_NAME!r});"
        "print('up', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        comm = Path(f"/proc/{proc.pid}/comm")
        assert comm.read_text().strip() == defaults.AGENT_PROCESS_NAME
        for attempt in (f"echo other > {comm}", f"kill -TERM {proc.pid}", f"kill -STOP {proc.pid}"):
            r = as_nobody(attempt)
            assert r.returncode != 0, attempt
        assert proc.poll() is None
        assert comm.read_text().strip() == defaults.AGENT_PROCESS_NAME
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
