"""An agent in the test process: its config, start and stop, and what to wait for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from awsfailover.agent.daemon import Agent
from awsfailover.config.schema import Settings
from awsfailover.sim.world import World

__all__ = ["MUTATING", "Running", "load", "make_agent", "sample", "wait_for", "write_config"]


MUTATING = (
    "AssignPrivateIpAddresses",
    "AssignIpv6Addresses",
    "UnassignIpv6Addresses",
    "ReplaceRoute",
)


def write_config(
    world: World,
    eni: str,
    tmp: Path,
    name: str,
    agent_extra: str = "",
    instances: str | None = None,
    top: str = "",
) -> Path:
    d = tmp / name
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "config.toml"
    cfg.write_text(
        world.config_toml(eni, state_dir=d / "run", instances=instances, extra=top)
        + (
            f'[agent]\nsocket = "{d}/agent.sock"\nfifo = "{d}/notify.fifo"\n'
            f'keepalived_pidfile = "{d}/keepalived.pid"\n'
            'metrics_address = "127.0.0.1:0"\n'
            f"reconcile_interval = 30\ntakeover_deadline = 5\n{agent_extra}\n"
        )
    )
    return cfg


def load(cfg: Path) -> Settings:
    from awsfailover.config.load import load_settings

    return load_settings(str(cfg))


class Running:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.thread = threading.Thread(target=agent.run, daemon=True)

    def __enter__(self) -> Agent:
        self.thread.start()
        assert self.agent.ready.wait(10)
        return self.agent

    def __exit__(self, *exc: object) -> None:
        self.agent.request_stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive()


def make_agent(cfg: Path, **kw: object) -> Agent:
    return Agent(
        load(cfg),
        config_path=str(cfg),
        registry=CollectorRegistry(),
        addresses=kw.pop("addresses", lambda _i: set()),
        **kw,
    )  # type: ignore[arg-type]


def wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def sample(agent: Agent, name: str, **labels: str) -> float:
    return agent.registry.get_sample_value(name, labels) or 0.0
