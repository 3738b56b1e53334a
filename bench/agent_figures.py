"""Figures for the agent (issue 3): hook hand-off wall time, agent takeover time with and
without injected latency, idle CPU and memory. Prints what it measured in this run.

    .venv/bin/python bench/agent_figures.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from awsfailover.sim import SimClient
from awsfailover.sim.server import spawn
from awsfailover.sim.world import VIP4, World, build, ec2_client, holder

ENV = {
    **os.environ,
    "AWS_ACCESS_KEY_ID": "x",
    "AWS_SECRET_ACCESS_KEY": "x",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


def start_agent(cfg: Path, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """One agent process on cfg, its log in log; returns once it says it is up."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "awsfailover", "--config", str(cfg), "agent"],
        stderr=log.open("wb"),
        env=ENV if env is None else env,
    )
    end = time.monotonic() + 30
    while "agent up" not in log.read_text():
        assert time.monotonic() < end and proc.poll() is None, "agent did not start"
        time.sleep(0.05)
    return proc


def proc_stat(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def start_agents(
    tmp: Path, world: World
) -> tuple[dict[str, Path], dict[str, subprocess.Popen[bytes]]]:
    configs = {}
    for label, eni in (("a", world.eni_a), ("b", world.eni_b)):
        d = tmp / label
        d.mkdir()
        cfg = d / "config.toml"
        cfg.write_text(
            world.config_toml(eni, state_dir=d / "run")
            + (
                f'[agent]\nsocket = "{d}/agent.sock"\nmetrics_address = ""\n'
                f'fifo = "{d}/notify.fifo"\nreconcile_interval = 30\n'
            )
        )
        configs[label] = cfg
    agents = {
        n: subprocess.Popen(
            [sys.executable, "-m", "awsfailover", "--config", str(c), "agent"],
            stderr=(tmp / f"agent-{n}.log").open("wb"),
            env=ENV,
        )
        for n, c in configs.items()
    }
    for n in agents:
        end = time.monotonic() + 30
        while "agent up" not in (tmp / f"agent-{n}.log").read_text():
            assert time.monotonic() < end, "agent did not start"
            time.sleep(0.05)
    return configs, agents


def handoff_times(cfg: Path, n: int) -> tuple[list[float], list[float]]:
    """(hand-off wall times, bare interpreter wall times), interleaved in one run: a bare start
    of the same interpreter (`python -c pass`, same environment) is the floor a hook can reach."""
    hook = [
        sys.executable,
        "-m",
        "awsfailover",
        "--config",
        str(cfg),
        "notify",
        "INSTANCE",
        "VI_1",
        "BACKUP",
        "100",
    ]
    times: list[float] = []
    bare: list[float] = []
    for _ in range(n):
        for cmd, out in ((hook, times), ([sys.executable, "-c", "pass"], bare)):
            started = time.monotonic()
            subprocess.run(cmd, env=ENV, check=True, capture_output=True)
            out.append(time.monotonic() - started)
    return times, bare


def takeover_times(
    tmp: Path, world: World, configs: dict[str, Path], sim: SimClient, *, latency: float, n: int
) -> list[float]:
    """FIFO MASTER (after BACKUP to the other node) until the agent logs convergence."""
    ec2 = ec2_client(world.endpoint_url)
    sim.set_faults(latency=latency)
    times = []
    for i in range(n):
        node, other = ("b", "a") if i % 2 == 0 else ("a", "b")
        want = world.eni_b if node == "b" else world.eni_a
        with open(configs[other].parent / "notify.fifo", "w") as fh:  # noqa: PTH123
            fh.write('INSTANCE "VI_1" BACKUP 100\n')
        log = tmp / f"agent-{node}.log"
        seen = log.read_text().count("converged on")
        started = time.monotonic()
        with open(configs[node].parent / "notify.fifo", "w") as fh:  # noqa: PTH123
            fh.write('INSTANCE "VI_1" MASTER 100\n')
        end = time.monotonic() + 30
        while log.read_text().count("converged on") == seen:
            assert time.monotonic() < end, "takeover did not converge"
            time.sleep(0.005)
        times.append(time.monotonic() - started)
        assert holder(ec2, VIP4) == [want]
    sim.set_faults()
    return times


def ms(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:.1f} ms over {len(values)} "
        f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})"
    )


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="af-bench-"))
    proc, url = spawn(log_path=tmp / "sim.log")
    sim = SimClient(url)
    try:
        world = build(url)
        configs, agents = start_agents(tmp, world)
        hand, bare = handoff_times(configs["a"], 30)
        print(f"hook hand-off wall time (cold python process -> agent OK): {ms(hand)}")
        print(f"bare start of the same interpreter, interleaved: {ms(bare)}")
        for latency in (0.0, 0.05):
            t = takeover_times(tmp, world, configs, sim, latency=latency, n=10)
            print(
                f"agent takeover (FIFO MASTER -> confirmed; 2 VIPs + 6 routes), injected "
                f"latency {latency * 1000:.0f} ms/call: {ms(t)}"
            )
        time.sleep(2)
        c0 = {n: proc_stat(p.pid)[0] for n, p in agents.items()}
        window = 30.0
        time.sleep(window)
        for n, p in agents.items():
            cpu, rss = proc_stat(p.pid)
            print(
                f"agent {n} idle over {window:.0f}s (reconcile every 30s): CPU "
                f"{(cpu - c0[n]) / window * 100:.2f}% of one core, RSS {rss / 2**20:.1f} MiB"
            )
        for p in agents.values():
            p.terminate()
            p.wait(timeout=10)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
