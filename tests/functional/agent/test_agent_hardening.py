"""The agent under reloads, hostile FIFOs, a second agent and odd addresses (issue 10, items
4, 5, 8, 11, 15, 16, 17, 19, 20)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from helpers.agents import Running, make_agent, sample, wait_for, write_config
from helpers.nodes import need
from helpers.paths import ROOT

from awsfailover.config.load import load_settings
from awsfailover.errors import ConfigError
from awsfailover.keepalived.protocol import Transition
from awsfailover.sim.world import ROUTE6, VIP4, ec2_client, holder, route_targets

HOOK = (sys.executable, "-m", "awsfailover", "--config")
AG = ("--use-agent",)


def converged(agent, result: str = "converged") -> float:  # type: ignore[no-untyped-def]
    return sample(agent, "awsfailover_takeovers_total", instance="VI_1", result=result)


# --- item 4: SIGHUP during a takeover ----------------------------------------------------------


def test_reload_during_a_slowed_takeover_lets_it_finish(
    env, tmp_path: Path, caplog, monkeypatch
) -> None:
    sim, world = env
    monkeypatch.setenv("AWSFAILOVER_FAILOVER__MAX_CONCURRENCY", "1")  # 6 routes x 0.5 s: 3 s
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    sim.set_faults(latency_by_action={"ReplaceRoute": 0.5})
    with Running(make_agent(cfg)) as agent:
        old_engine = agent.engine
        agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
        assert wait_for(lambda: sim.calls().get("ReplaceRoute", 0) >= 1)
        assert agent.reload()  # what SIGHUP runs
        assert not agent.workers["VI_1"].idle()  # the reload landed mid-takeover
        assert agent.engine is not old_engine
        assert wait_for(lambda: converged(agent) == 1, timeout=15)
        assert converged(agent, "failed") == 0
    sim.set_faults()
    assert "cannot schedule new futures" not in caplog.text
    assert holder(ec2, VIP4) == [world.eni_b]
    assert all(route_targets(ec2, t)[ROUTE6] == world.eni_b for t in world.rtb_clients)
    assert old_engine.calls.closed  # drained, then closed


# --- item 5: a bad reload keeps the old config, whatever the bytes ------------------------------


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xfe\x00", b'region = "eu-north-1\xe9"\n', b"[[instances]]\nname = \x80\n"],
    ids=["bom", "latin1", "raw-byte"],
)
def test_reload_of_non_utf8_config_keeps_the_running_one(
    env, tmp_path: Path, garbage: bytes
) -> None:
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    with Running(make_agent(cfg)) as agent:
        good = agent.settings
        cfg.write_bytes(cfg.read_bytes() + garbage)
        assert agent.reload() is False
        assert agent.settings is good
        agent.request_reload()  # through the main loop, as SIGHUP does: the loop survives
        time.sleep(0.5)
        assert agent.ready.is_set() and agent.settings is good
    with pytest.raises(ConfigError, match=r"not UTF-8|invalid TOML"):
        load_settings(str(cfg))


# --- item 8: one agent per socket --------------------------------------------------------------


def test_second_agent_on_the_same_config_refuses_to_start(env, tmp_path: Path) -> None:
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    with Running(make_agent(cfg)) as first:
        second = make_agent(cfg)
        with pytest.raises(ConfigError, match="another agent"):
            second.run()
        # the first still owns its socket and answers the hook
        first_sock = tmp_path / "b" / "agent.sock"
        assert first_sock.exists()
        res = subprocess.run(
            [*HOOK, str(cfg), "notify", "INSTANCE", "VI_1", "MASTER", "100"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert res.returncode == 0 and "handed to the agent" in res.stderr, res.stderr
        assert wait_for(lambda: converged(first) == 1)


def test_second_agent_process_exits_2(env, tmp_path: Path) -> None:
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    with Running(make_agent(cfg)):
        res = subprocess.run(
            [sys.executable, "-m", "awsfailover", "--config", str(cfg), "agent"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert res.returncode == 2
    assert "another agent" in res.stderr


# --- item 11: damping counts drift repairs only -------------------------------------------------


def test_keepalived_failovers_do_not_use_up_the_drift_repair_budget(env, tmp_path: Path) -> None:
    sim, world = env
    cfg = write_config(
        world, world.eni_b, tmp_path, "b", "damping_max_moves = 3\ndamping_window = 60\n"
    )
    ec2 = ec2_client(world.endpoint_url)

    def peer_takes_a_route() -> None:
        ec2.replace_route(
            RouteTableId=world.rtb_clients[0],
            DestinationIpv6CidrBlock=ROUTE6,
            NetworkInterfaceId=world.eni_a,
        )

    with Running(make_agent(cfg)) as agent:
        for i in range(4):  # four real failovers inside the damping window
            peer_takes_a_route()
            agent.dispatch(Transition("INSTANCE", "VI_1", "BACKUP"), "test")
            agent.dispatch(Transition("INSTANCE", "VI_1", "MASTER"), "test")
            assert wait_for(lambda i=i: converged(agent) == i + 1)
        peer_takes_a_route()  # then someone moves a route by hand
        assert agent.reconcile()
        assert wait_for(
            lambda: sample(agent, "awsfailover_drift_repairs_total", instance="VI_1") == 1
        )
        assert sample(agent, "awsfailover_takeovers_damped_total", instance="VI_1") == 0
        assert route_targets(ec2, world.rtb_clients[0])[ROUTE6] == world.eni_b


# --- item 15: a huge FIFO line -----------------------------------------------------------------


def test_megabyte_fifo_line_is_dropped_and_the_next_transition_is_prompt(
    env, tmp_path: Path, caplog
) -> None:
    from awsfailover import defaults

    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg)) as agent:
        assert agent.fifo is not None
        fd = os.open(agent.fifo, os.O_WRONLY)
        try:
            junk = b'INSTANCE "' + b"x" * (1 << 20)  # 1 MiB, no newline yet

            def write_all() -> None:
                view = memoryview(junk + b'"\nINSTANCE "VI_1" MASTER 100\n')
                while view:
                    n = os.write(fd, view)
                    view = view[n:]

            started = time.monotonic()
            w = threading.Thread(target=write_all)
            w.start()
            w.join(timeout=10)
            assert wait_for(lambda: agent.workers["VI_1"].role == "MASTER", timeout=5)
            took = time.monotonic() - started
        finally:
            os.close(fd)
        assert took < 2.0, took
        assert agent._fifo is not None
        assert len(agent._fifo._buf) <= defaults.MAX_LINE
        assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b])
    drops = [r for r in caplog.records if "dropped a line longer" in r.getMessage()]
    assert len(drops) == 1


# --- item 16: who may write the FIFO -----------------------------------------------------------


@pytest.mark.parametrize("how", ["world-writable", "group-writable", "other-owner", "symlink"])
def test_fifo_that_others_could_write_is_refused(env, tmp_path: Path, how: str) -> None:
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    fifo = tmp_path / "b" / "notify.fifo"
    if how == "symlink":
        target = tmp_path / "elsewhere.fifo"
        os.mkfifo(target, 0o600)
        fifo.symlink_to(target)
    else:
        os.mkfifo(fifo, 0o600)
        if how == "world-writable":
            fifo.chmod(0o666)
        elif how == "group-writable":
            fifo.chmod(0o620)
        else:
            if os.geteuid() != 0:
                need("chown to another user needs root")
            os.chown(fifo, 65534, 65534)
    agent = make_agent(cfg)
    with pytest.raises(ConfigError, match=r"agent\.fifo"):
        agent.run()


def test_existing_private_fifo_is_used(env, tmp_path: Path) -> None:
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    os.mkfifo(tmp_path / "b" / "notify.fifo", 0o600)
    with Running(make_agent(cfg)) as agent:
        assert agent._fifo is not None and agent._fifo.same_file()


# --- item 17: a replaced FIFO ------------------------------------------------------------------


def test_replaced_fifo_is_reopened(env, tmp_path: Path) -> None:
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    ec2 = ec2_client(world.endpoint_url)
    with Running(make_agent(cfg)) as agent:
        assert agent.fifo is not None
        agent.fifo.unlink()
        os.mkfifo(agent.fifo, 0o600)  # keepalived (or a person) re-creates it
        assert agent.healthy()[0] is False  # not reading the path: never a silent 200
        fd = os.open(agent.fifo, os.O_RDWR | os.O_NONBLOCK)
        try:
            os.write(fd, b'INSTANCE "VI_1" MASTER 100\n')
            assert wait_for(lambda: holder(ec2, VIP4) == [world.eni_b], timeout=10)
        finally:
            os.close(fd)
        assert agent._fifo is not None and agent._fifo.same_file()
        assert agent._fifo.replaced == 1


# --- item 19: keepalived.conf and the agent agree on the FIFO ------------------------------------


def test_rendered_keepalived_conf_and_agent_defaults_agree(env, tmp_path: Path) -> None:
    from awsfailover import defaults

    sim, world = env
    d = tmp_path / "n"
    d.mkdir()
    cfg = d / "config.toml"
    toml = world.config_toml(world.eni_b, state_dir=d / "run")  # no [agent] section
    cfg.write_text(toml.replace('interface = "lo"', 'interface = "eth0"'))
    out = subprocess.run(
        [*HOOK, str(cfg), "keepalived-config", "--self", "10.0.1.11", "--peer", "10.0.1.10", *AG],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    rendered = re.search(r"^\s*vrrp_notify_fifo (\S+)$", out, re.M)
    assert rendered is not None
    settings = load_settings(str(cfg))
    assert settings.agent.fifo == Path(rendered.group(1)) == defaults.FIFO
    # the systemd unit passes no FIFO: the agent reads that same default
    unit = (ROOT / "packaging" / "awsfailover-agent.service").read_text()
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert exec_start.split()[-1] == "agent"
    assert re.search(r"^ReadWritePaths=.*" + re.escape(str(defaults.STATE_DIR)), unit, re.M)
    # hook and agent agree on the socket too
    from awsfailover.keepalived.handoff import agent_settings

    assert agent_settings(cfg)[0] == settings.agent.socket == defaults.SOCKET


# --- item 20: IPv6 metrics address -------------------------------------------------------------


def test_ipv6_metrics_address_serves_healthz(env, tmp_path: Path) -> None:
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    cfg.write_text(cfg.read_text().replace('"127.0.0.1:0"', '"[::1]:0"'))
    with Running(make_agent(cfg)) as agent:
        port = agent.metrics_port
        assert port
        assert wait_for(lambda: agent.last_reconcile_ok is not None)
        with urllib.request.urlopen(f"http://[::1]:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(f"http://[::1]:{port}/metrics", timeout=5) as resp:
            assert b"awsfailover_vrrp_state" in resp.read()


@pytest.mark.parametrize("bad", ["::1:9108", "[::1]", "[nothost]:9108", "host:99999", ":9108"])
def test_bad_metrics_address_fails_at_load(env, tmp_path: Path, bad: str) -> None:
    sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    cfg.write_text(cfg.read_text().replace('"127.0.0.1:0"', f'"{bad}"'))
    with pytest.raises(ConfigError, match=r"agent\.metrics_address"):
        load_settings(str(cfg))
