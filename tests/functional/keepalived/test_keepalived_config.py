"""keepalived-config renders what keepalived accepts; maintenance and keepalived-check."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.nodes import Node, need

from awsfailover.sim.world import World


@pytest.fixture
def netns() -> Iterator[str]:
    """keepalived --config-test wants the interface to exist: a namespace with an eth0 (one
    end of a veth pair), so the test depends on no interface of the host."""
    if shutil.which("keepalived") is None:
        need("keepalived is not installed (.ci/run installs it)")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        need("needs root and ip for a network namespace")
    name = f"afkc{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(
            ["ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
            check=True,
        )
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def config_test(text: str, tmp_path: Path, netns: str) -> None:
    """keepalived --config-test on the rendered file, inside the namespace with eth0."""
    conf = tmp_path / "keepalived.conf"
    conf.write_text(text)
    test = subprocess.run(
        ["ip", "netns", "exec", netns, "keepalived", "--config-test", "-f", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert "Unknown keyword" not in test.stdout + test.stderr, test.stdout + test.stderr


@pytest.fixture
def node(world: World, tmp_path: Path) -> Node:
    n = Node(world, world.eni_a, tmp_path, "a")
    n.config.write_text(n.config.read_text().replace('interface = "lo"', 'interface = "eth0"'))
    return n


@pytest.mark.parametrize(
    "flags",
    [
        [],
        ["--use-agent"],
        ["--nopreempt", "--priority", "150", "--advert-int", "0.5", "--peer", "10.0.1.12"],
        ["--use-agent", "--script-checks"],
    ],
    ids=["hook", "agent", "nopreempt-three-nodes", "agent-script-checks"],
)
def test_rendered_config_passes_keepalived_config_test(
    node: Node, tmp_path: Path, netns: str, flags: list[str]
) -> None:
    r = node.run("keepalived-config", "--self", "10.0.1.10", "--peer", "10.0.1.11", *flags)
    assert r.code == 0, r.err
    config_test(r.out, tmp_path, netns)
    assert "unicast_src_ip 10.0.1.10" in r.out
    assert "enable_script_security" in r.out
    assert f"--config {node.config} notify" in r.out
    assert ("vrrp_notify_fifo" in r.out) == ("--use-agent" in flags)
    assert ("nopreempt" in r.out) == ("--nopreempt" in flags)
    # the IPv6 VIP of an IPv4 instance goes to virtual_ipaddress_excluded
    assert "virtual_ipaddress_excluded" in r.out
    # split-brain heal the keepalived way (issue 19): the rightful master re-asserts at once
    assert 'notify INSTANCE VI_1 MASTER_RX_LOWER_PRI"' in r.out
    assert "    notify_master_rx_lower_pri " in r.out
    # issue 19: keepalived's own trackers unless --script-checks; none starts a process
    native = "--script-checks" not in flags
    assert ("track_file awsfailover_maintenance {" in r.out) == native
    assert ("vrrp_track_process awsfailover_agent {" in r.out) == (
        native and "--use-agent" in flags
    )
    assert ("keepalived-check" in r.out) == (not native)


def test_two_nic_node_puts_each_instances_vips_on_its_own_interface(
    world: World, tmp_path: Path, netns: str
) -> None:
    """VRRP speaks on the node's interface; the public instance's VIP sits on eth1, the ENI
    EC2 moves it to."""
    from awsfailover.sim.world import PUBLIC_VIP, add_public_side

    pub = add_public_side(world)
    inst = world.instance_toml("VI_1") + pub.instance_toml("PUB", extra='interface = "eth1"\n')
    n = Node(world, world.eni_a, tmp_path, "a", instances=inst)
    n.config.write_text(n.config.read_text().replace('interface = "lo"', 'interface = "eth0"'))
    r = n.run("keepalived-config", "--self", "10.0.1.10", "--peer", "10.0.1.11")
    assert r.code == 0, r.err
    assert f"{PUBLIC_VIP}/32 dev eth1" in r.out
    assert "10.0.1.100/32 dev eth0" in r.out
    assert r.out.count("    interface eth0") == 2  # both instances advertise on eth0
    config_test(r.out, tmp_path, netns)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--self", "10.0.1.10", "--peer", "10.0.1.10"], "must not be one of the peers"),
        (["--self", "nonsense", "--peer", "10.0.1.11"], "not an IP address"),
        (["--self", "10.0.1.10", "--peer", "10.0.1.11", "--priority", "255"], "1..254"),
        (["--self", "10.0.1.10", "--peer", "10.0.1.11", "--loopback"], "loopback"),
    ],
)
def test_bad_arguments_are_refused(node: Node, args: list[str], message: str) -> None:
    if "--loopback" in args:
        args = args[:-1]
        node.config.write_text(node.config.read_text().replace('"eth0"', '"lo"'))
    r = node.run("keepalived-config", *args)
    assert r.code == 2
    assert message in r.err


def test_maintenance_flag_drives_the_tracker_and_the_check(node: Node) -> None:
    flag = node.dir / "run" / "maintenance"
    assert node.run("keepalived-check", "maintenance").code == 0
    on = node.run("maintenance", "on")
    assert on.code == 0
    assert "maintenance ON" in on.out
    assert flag.read_text() == "1\n"  # keepalived's track_file: non-zero is FAULT
    assert node.run("keepalived-check", "maintenance").code == 1
    assert "ON" in node.run("maintenance", "status").out
    assert node.run("maintenance", "off").code == 0
    assert flag.read_text() == "0\n"
    assert node.run("keepalived-check", "maintenance").code == 0
    assert "OFF" in node.run("maintenance", "status").out
    # read as keepalived reads it: a leading number, anything else is 0
    for text, on_ in (("  7 x\n", True), ("-1\n", True), ("maintenance: old text\n", False)):
        flag.write_text(text)
        assert node.run("keepalived-check", "maintenance").code == (1 if on_ else 0), text


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
