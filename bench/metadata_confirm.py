"""Row 10 (issue 18, item 4): what confirming in instance metadata saves.

An instance of one VIP and no routes, agent takeovers acting first at ROW3_LATENCY per API
call, alternating in one run between agents whose instance metadata is the endpoint's view
of their ENI (a moved VIP shows there as soon as the API has it; on EC2 it lags by up to a
few seconds, and the API confirmation runs as before) and agents without metadata, which
confirm through a Describe. Floors: 1 round trip (act) with metadata, 2 (act, Describe)
without.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from agent_figures import ENV, start_agent

from awsfailover.sim.server import SimClient
from awsfailover.sim.world import VIP4, World, ec2_client


def _line(d: Path, text: str) -> None:
    with (d / "notify.fifo").open("w") as fh:
        fh.write(f'INSTANCE "VI_1" {text} 100\n')


def row10(world: World, tmp: Path, sim: SimClient, latency: float, runs: int) -> str:
    enis = {"a": world.eni_a, "b": world.eni_b}
    procs, dirs = [], {}
    for way in ("metadata", "api"):
        for n, eni in enis.items():
            d = tmp / f"r10-{way}-{n}"
            d.mkdir()
            (d / "config.toml").write_text(
                world.config_toml(
                    eni, instances=world.instance_toml(vips=[VIP4], routes=[]), state_dir=d / "run"
                )
                + f'[agent]\nsocket = "{d}/agent.sock"\nmetrics_address = ""\n'
                f'fifo = "{d}/notify.fifo"\nreconcile_interval = 1\ntakeover_deadline = 10\n'
            )
            env = dict(ENV)
            if way == "metadata":
                env.pop("AWS_EC2_METADATA_DISABLED", None)
                env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = f"{world.endpoint_url}/_imds/{eni}/"
            else:
                env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:9/"
            procs.append(start_agent(d / "config.toml", d / "agent.log", env))
            dirs[way, n] = d
    ec2 = ec2_client(world.endpoint_url)
    times: dict[str, list[float]] = {"metadata": [], "api": []}
    try:
        sim.set_faults(latency=latency)
        for i in range(2 * runs):
            way = ("metadata", "api")[i % 2]
            n, other = ("a", "b") if (i // 2) % 2 == 0 else ("b", "a")
            ec2.assign_private_ip_addresses(
                NetworkInterfaceId=enis[other], PrivateIpAddresses=[VIP4], AllowReassignment=True
            )
            time.sleep(2.5)  # every BACKUP's reconcile has seen it: acting first
            d = dirs[way, n]
            log = d / "agent.log"
            seen = log.read_text().count("converged on")
            started = time.monotonic()
            _line(d, "MASTER")
            end = started + 30
            while log.read_text().count("converged on") == seen:
                assert time.monotonic() < end, f"takeover did not converge ({log})"
                time.sleep(0.005)
            times[way].append(time.monotonic() - started)
            _line(d, "BACKUP")  # no agent stays MASTER to repair the next move away
        sim.set_faults()
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=15)
    meta, api = statistics.median(times["metadata"]), statistics.median(times["api"])
    ms = latency * 1000
    return (
        f"| 10 | agent takeover acting first, 1 VIP and no routes, {ms:.0f} ms per API call: "
        f"confirmed in instance metadata vs through a Describe, alternating | metadata: median "
        f"{meta * 1000:.0f} ms over {runs} (floor 1 x {ms:.0f} ms, act); Describe: median "
        f"{api * 1000:.0f} ms over {runs} (floor 2 x {ms:.0f} ms) | metadata / Describe = "
        f"**{meta / api:.2f}**; saved {(api - meta) * 1000:.0f} ms |"
    )
