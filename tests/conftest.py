"""Fixtures: the local EC2 endpoint (subprocess, shared) and a fresh VPC per test.

No test may reach real AWS or the real metadata address: credentials are fake, and the
metadata endpoint points at a closed loopback port unless a test starts its fake.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-north-1",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9/",
        # a client a test forgets to point at the local endpoint meets a closed loopback
        # port, never AWS (a CI run saw doctor reach for sns.eu-north-1.amazonaws.com)
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9/",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
)
os.environ.pop("AWSFAILOVER_CONFIG", None)
os.environ.pop("AWS_PROFILE", None)

from helpers.nodes import Node
from helpers.timings import E2E_TIMINGS, TF_TIMINGS
from helpers.webhook import Receiver

from awsfailover.sim import LocalEndpoint, SimClient
from awsfailover.sim.server import spawn
from awsfailover.sim.world import World, ec2_client


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("sim") / "sim.log"
    proc, url = spawn(log_path=log)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def sim(endpoint: str) -> SimClient:
    client = SimClient(endpoint)
    client.reset()
    return client


@pytest.fixture
def world(sim: SimClient) -> World:
    w = sim.build_world()  # world.build()'s network, made inside the endpoint (fast)
    sim.reset_calls()
    return w


@pytest.fixture
def ec2(endpoint: str):  # type: ignore[no-untyped-def]
    return ec2_client(endpoint)


@pytest.fixture(scope="session")
def local() -> Iterator[LocalEndpoint]:
    """The local endpoint in a thread of the test process (engine and agent tests)."""
    with LocalEndpoint() as ep:
        yield ep


@pytest.fixture
def env(local: LocalEndpoint) -> tuple[SimClient, World]:
    sim = SimClient(local.url)
    sim.reset()
    world = sim.build_world()
    sim.reset_calls()
    return sim, world


@pytest.fixture
def node_a(world: World, tmp_path: Path) -> Node:
    return Node(world, world.eni_a, tmp_path, "a")


@pytest.fixture
def node_b(world: World, tmp_path: Path) -> Node:
    return Node(world, world.eni_b, tmp_path, "b")


# --- two workers: what must not share a worker's time with itself --------------------------------

# Modules whose tests run one after another on one worker (pytest-xdist's loadgroup): Terraform
# shares one provider mirror and is heavy, the race test spawns hundreds of processes. The
# keepalived lab runs after the rest, alone (Makefile). Everything else is spread over both.
SERIAL_GROUPS = {"test_e2e_keepalived": "lab", "test_terraform": "terraform", "test_race": "race"}


TESTS = Path(__file__).resolve().parent
KINDS = ("unit", "functional", "e2e", "terraform")


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    for item in items:
        # the marker is the folder: `pytest -m unit` == `pytest tests/unit`
        kind = item.path.resolve().relative_to(TESTS).parts[0]
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))
        group = SERIAL_GROUPS.get(item.module.__name__)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


# --- timings the end-to-end and Terraform tests measured, printed in pytest's summary ---------


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    """On an xdist worker: hand the timings to the controller, which prints the summary."""
    out = getattr(session.config, "workeroutput", None)
    if out is not None:
        out["e2e_timings"] = list(E2E_TIMINGS)
        out["tf_timings"] = dict(TF_TIMINGS)


def pytest_testnodedown(node, error):  # type: ignore[no-untyped-def]
    E2E_TIMINGS.extend(node.workeroutput.get("e2e_timings", []))
    for k, v in node.workeroutput.get("tf_timings", {}).items():
        TF_TIMINGS[k] = TF_TIMINGS.get(k, 0.0) + v


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if E2E_TIMINGS:
        terminalreporter.section("end-to-end timings (fault -> converged EC2 state)")
        for line in E2E_TIMINGS:
            terminalreporter.write_line(line)
    if TF_TIMINGS:
        terminalreporter.section("terraform time")
        total = sum(TF_TIMINGS.values())
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(TF_TIMINGS.items()))
        terminalreporter.write_line(f"{total:.1f}s total: {parts}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook on loopback that records what it is sent (tests/helpers/webhook.py)."""
    r = Receiver()
    yield r
    r.close()
