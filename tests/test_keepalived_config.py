"""keepalived-config renders what keepalived accepts; maintenance and keepalived-check."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import Node

from awsfailover.sim.world import World


def _keepalived() -> str:
    path = shutil.which("keepalived")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI: keepalived is not installed (.ci/run installs it)")
        pytest.skip("keepalived is not installed")
    return path


@pytest.fixture
def node(world: World, tmp_path: Path) -> Node:
    return Node(world, world.eni_a, tmp_path, "a")


@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["--use-agent"],
        ["--nopreempt", "--priority", "150", "--advert-int", "0.5", "--peer", "10.0.1.12"],
    ],
    ids=["hook", "agent", "nopreempt-three-nodes"],
)
def test_rendered_config_passes_keepalived_config_test(
    node: Node, tmp_path: Path, flags: list[str]
) -> None:
    keepalived = _keepalived()
    r = node.run("keepalived-config", "--self", "10.0.1.10", "--peer", "10.0.1.11", *flags)
    assert r.code == 0, r.err
    conf = tmp_path / "keepalived.conf"
    conf.write_text(r.out)
    test = subprocess.run(
        [keepalived, "--config-test", "-f", str(conf)], capture_output=True, text=True, check=False
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert "unicast_src_ip 10.0.1.10" in r.out
    assert "enable_script_security" in r.out
    assert f"--config {node.config} notify" in r.out
    assert ("vrrp_notify_fifo" in r.out) == ("--use-agent" in flags)
    assert ("nopreempt" in r.out) == ("--nopreempt" in flags)
    # the IPv6 VIP of an IPv4 instance goes to virtual_ipaddress_excluded
    assert "virtual_ipaddress_excluded" in r.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--self", "10.0.1.10", "--peer", "10.0.1.10"], "must not be one of the peers"),
        (["--self", "nonsense", "--peer", "10.0.1.11"], "not an IP address"),
        (["--self", "10.0.1.10", "--peer", "10.0.1.11", "--priority", "255"], "1..254"),
    ],
)
def test_bad_arguments_are_refused(node: Node, args: list[str], message: str) -> None:
    r = node.run("keepalived-config", *args)
    assert r.code == 2
    assert message in r.err


def test_maintenance_flag_drives_the_check(node: Node) -> None:
    assert node.run("keepalived-check", "maintenance").code == 0
    on = node.run("maintenance", "on")
    assert on.code == 0
    assert "maintenance ON" in on.out
    assert node.run("keepalived-check", "maintenance").code == 1
    assert "ON" in node.run("maintenance", "status").out
    assert node.run("maintenance", "off").code == 0
    assert node.run("keepalived-check", "maintenance").code == 0


def test_agent_check_fails_without_an_agent(node: Node) -> None:
    # metrics_address default 127.0.0.1:9108; override to a closed port
    r = node.run(
        "keepalived-check", "agent", env={"AWSFAILOVER_AGENT__METRICS_ADDRESS": "127.0.0.1:9"}
    )
    assert r.code == 1


def test_check_is_fast_and_imports_no_aws_stack(node: Node) -> None:
    """keepalived runs it every second: no boto3, botocore or pydantic on this path."""
    started = time.monotonic()
    r = node.run("keepalived-check", "maintenance", env={"PYTHONPROFILEIMPORTTIME": "1"})
    elapsed = time.monotonic() - started
    assert r.code == 0
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in r.err.splitlines() if "|" in line
    }
    assert not imported & {"boto3", "botocore", "pydantic", "pydantic_settings"}
    assert elapsed < 5  # a sanity bound on a loaded CI machine, not a benchmark
