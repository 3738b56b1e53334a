"""One appliance as a test drives it: its config file and the CLI run as a subprocess; and the
skip that CI turns into a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from awsfailover.sim import SimClient
from awsfailover.sim.world import World

__all__ = ["MUTATING", "Node", "Result", "mutating_calls", "need"]


@dataclass
class Result:
    code: int
    out: str
    err: str


class Node:
    """One appliance: a config file and the CLI run as a subprocess."""

    def __init__(
        self,
        world: World,
        eni: str,
        tmp: Path,
        name: str,
        instances: str | None = None,
        extra: str = "",
    ) -> None:
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "config.toml"
        self.config.write_text(
            world.config_toml(eni, instances=instances, state_dir=self.dir / "run", extra=extra)
        )
        self.eni = eni

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "awsfailover", "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**os.environ, **(env or {})},
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def master(self, name: str = "VI_1", env: dict[str, str] | None = None) -> Result:
        return self.run("notify", "INSTANCE", name, "MASTER", "100", env=env)


MUTATING = (
    "AssignPrivateIpAddresses",
    "AssignIpv6Addresses",
    "UnassignIpv6Addresses",
    "ReplaceRoute",
    "UnassignPrivateIpAddresses",
    "CreateRoute",
    "DeleteRoute",
    "AssociateAddress",
    "DisassociateAddress",
)


def mutating_calls(sim: SimClient) -> int:
    return sum(n for op, n in sim.calls().items() if op in MUTATING)


def need(what: str) -> None:
    """A test that needs root, keepalived or terraform: skipped on a laptop without them, a
    failure in CI (where .ci/run installs them), so CI never passes by skipping."""
    if os.environ.get("CI"):
        pytest.fail(f"CI: {what}")
    pytest.skip(what)


def cold_start() -> float:
    """Seconds a hook spends before its takeover on this machine now: the interpreter, the
    config and botocore imports and a client build. A bound on a whole hook process is the
    product's own bound plus this, measured beside it instead of guessed (a busy machine
    starts Python in seconds, not 0.6 s)."""
    import time

    code = (
        "import awsfailover.config.load, awsfailover.failover.run\n"
        "from awsfailover.aws.clients import make_ec2_client\n"
        "make_ec2_client('eu-north-1', 'http://127.0.0.1:9')\n"
    )
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    return time.monotonic() - started


NOBODY = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")


def as_nobody(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run `python -m awsfailover ARGS` as nobody, from this checkout wherever it lives: a
    clone under a 0700 home or `mktemp -d` is not reachable by nobody, so a private mount
    namespace binds the checkout onto a directory nobody can traverse first. Needs root."""
    import tempfile

    from helpers.paths import ROOT

    top = Path(tempfile.mkdtemp(prefix="afnobody"))
    try:
        top.chmod(0o755)
        seen = top / "checkout"
        seen.mkdir()
        python = Path(sys.executable)
        if python.is_relative_to(ROOT):  # the checkout's own venv: reach it through the bind
            python = seen / python.relative_to(ROOT)
        env = {**os.environ, "PYTHONPATH": str(seen), "PYTHONDONTWRITEBYTECODE": "1"}
        env.update(kwargs.pop("env", None) or {})  # type: ignore[call-overload]
        # sh -c: $0 is the checkout, $1 where it is bound, the rest the command
        script = 'mount --bind "$0" "$1" && shift && exec "$@"'
        unshare = ("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
        return subprocess.run(
            [*unshare, str(ROOT), str(seen), *NOBODY, str(python), "-m", "awsfailover", *args],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            **kwargs,  # type: ignore[arg-type]
        )
    finally:
        # the bind lived in the child's namespace only: the directory is empty here
        seen.rmdir()
        top.rmdir()
