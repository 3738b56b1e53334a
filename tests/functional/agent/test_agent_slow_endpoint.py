"""Issue 17, item 6: an EC2 endpoint that trickles its answers (one byte a second) during a
reconcile holds neither SIGHUP nor SIGTERM: the agent reloads at once and stops within
takeover_deadline + 1 s, as the README promises; /healthz blames no input while stopping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers.agents import Running, make_agent, wait_for, write_config
from helpers.proxy import Proxy

DEADLINE = 3.0


def test_a_trickling_endpoint_holds_neither_reload_nor_stop(env, tmp_path: Path) -> None:
    _sim, world = env
    proxy = Proxy(world.endpoint_url, {})
    try:
        cfg = write_config(world, world.eni_b, tmp_path, "b")
        cfg.write_text(
            cfg.read_text()
            .replace(world.endpoint_url, proxy.url)
            .replace("reconcile_interval = 30", "reconcile_interval = 1")
            .replace("takeover_deadline = 5", f"takeover_deadline = {DEADLINE:g}")
        )
        log = tmp_path / "agent.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "awsfailover", "--config", str(cfg), "agent"],
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
            env=dict(os.environ),
        )
        try:
            assert wait_for(lambda: "agent up" in log.read_text(), timeout=20), log.read_text()
            # every Describe the reconcile makes now trickles
            for action in ("DescribeNetworkInterfaces", "DescribeRouteTables", "DescribeSubnets"):
                proxy.rules[action] = "trickle"
            assert wait_for(lambda: proxy.counts.get("DescribeNetworkInterfaces", 0) >= 2)
            time.sleep(0.5)  # a reconcile is waiting on a trickling answer
            proc.send_signal(signal.SIGHUP)
            assert wait_for(lambda: "reloaded config" in log.read_text(), timeout=2), (
                log.read_text()
            )
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=DEADLINE + 10)
            took = time.monotonic() - sent
        finally:
            proc.kill()
            proc.wait()
        assert code == 0, log.read_text()
        assert took < DEADLINE + 1 + 0.5, took
        assert "agent stopped" in log.read_text()
    finally:
        proxy.close()


def test_healthz_while_stopping_blames_no_input(env, tmp_path: Path) -> None:
    _sim, world = env
    cfg = write_config(world, world.eni_b, tmp_path, "b")
    with Running(make_agent(cfg, fifo=tmp_path / "notify.fifo")) as agent:
        assert wait_for(lambda: agent.healthy()[0])
        agent.wakeup.request("stop")
        ok, why = agent.healthy()
        assert not ok and why == "agent stopping", why
