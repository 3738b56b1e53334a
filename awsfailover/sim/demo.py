"""`awsfailover demo`: a failover group in the local EC2 endpoint, failed over by the real hook.

Starts the local endpoint, builds a VPC (subnet, two ENIs, a VIP, two route tables), then runs
`awsfailover notify INSTANCE VI_1 MASTER` as node B, node A, node B, and once more as B to
show a converged run is free; then the same pair with the lease arbiter (sim.demo_arbiter).
Prints who holds what after each step, with wall times.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from awsfailover.errors import ConfigError
from awsfailover.sim import SimClient
from awsfailover.sim.server import spawn
from awsfailover.sim.world import (
    ROUTE4,
    ROUTE6,
    VIP4,
    World,
    build,
    ec2_client,
    holder,
    route_targets,
)

MUTATING = (
    "AssignPrivateIpAddresses",
    "AssignIpv6Addresses",
    "UnassignIpv6Addresses",
    "ReplaceRoute",
)


def _show(world: World, names: dict[str, str]) -> None:
    ec2 = ec2_client(world.endpoint_url)
    vip = ", ".join(names.get(e, e) for e in holder(ec2, VIP4)) or "nobody"
    vip6 = ", ".join(names.get(e, e) for e in holder(ec2, world.vip6)) or "nobody"
    print(f"    VIP {VIP4:<22} held by {vip}")
    print(f"    VIP {world.vip6:<22} held by {vip6}")
    for rtb in world.rtb_clients:
        t = route_targets(ec2, rtb)
        # every route the demo's config protects, the IPv6 one too: the log shows it moving
        for dest in (ROUTE4, ROUTE6, world.prefix_list):
            print(f"    route {rtb} {dest:<18} -> {names.get(t[dest], t[dest])}")


def notify(
    config: Path, env: dict[str, str], sim: SimClient
) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """`awsfailover notify INSTANCE VI_1 MASTER 100` as keepalived runs it: the result, its
    wall time and the mutating EC2 calls the endpoint saw meanwhile."""
    sim.reset_calls()
    cmd = [sys.executable, "-m", "awsfailover", "--config", str(config)]
    cmd += ["notify", "INSTANCE", "VI_1", "MASTER", "100"]
    started = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)
    wall = time.monotonic() - started
    return res, wall, sum(n for op, n in sim.calls().items() if op in MUTATING)


def main(args: object = None) -> int:
    """The `awsfailover demo` handler (it takes no arguments). The endpoint's code ships with
    the package, moto only with the sim extra: say which is missing before starting it."""
    if importlib.util.find_spec("moto") is None:
        raise ConfigError("demo needs the local endpoint: pip install 'awsfailover[sim]'")
    return run()


def run() -> int:
    base_env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        # never let the SDK look for real credentials or metadata
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_DYNAMODB": "",  # the endpoint's own, once it runs (the arbiter)
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }
    os.environ.update({k: base_env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    with tempfile.TemporaryDirectory(prefix="awsfailover-demo-") as tmp:
        tmpdir = Path(tmp)
        t0 = time.monotonic()
        proc, url = spawn(log_path=tmpdir / "endpoint.log")
        try:
            print(f"local EC2 endpoint: {url} (started in {time.monotonic() - t0:.2f}s)")
            base_env["AWS_ENDPOINT_URL_DYNAMODB"] = url
            sim = SimClient(url)
            world = build(url)
            names = {world.eni_a: f"A ({world.eni_a})", world.eni_b: f"B ({world.eni_b})"}
            print(
                f"VPC {world.vpc_id}: subnet {world.app_subnet}, ENIs A={world.eni_a} "
                f"B={world.eni_b}, route tables {', '.join(world.rtb_clients)}"
            )
            configs = {}
            for label, eni in (("A", world.eni_a), ("B", world.eni_b)):
                path = tmpdir / f"node-{label}.toml"
                path.write_text(world.config_toml(eni, state_dir=tmpdir / f"run-{label}"))
                configs[label] = path
            print("\ninitial state (A is master):")
            _show(world, names)

            timings: list[float] = []
            for step, label in enumerate(("B", "A", "B", "B"), 1):
                res, wall, mutating = notify(configs[label], base_env, sim)
                print(
                    f"\n[{step}] keepalived makes {label} MASTER: awsfailover notify INSTANCE "
                    f"VI_1 MASTER 100 -> exit {res.returncode}, {wall * 1000:.0f} ms wall time "
                    "(the whole process), "
                    f"{mutating} mutating EC2 calls"
                )
                for line in res.stderr.strip().splitlines():
                    print(f"    | {line}")
                if res.returncode != 0:
                    return res.returncode
                _show(world, names)
                if mutating:
                    timings.append(wall)
            print(
                f"\nhook wall time per takeover (cold process, 2 VIPs + 6 routes): "
                f"median {statistics.median(timings) * 1000:.0f} ms over {len(timings)} "
                f"takeovers; the converged re-run made no mutating call"
            )
            print(
                "wall time is the hook process from start to exit (Python start-up, imports, "
                'config, EC2 calls);\nthe hook\'s own "converged ... in" figure is engine '
                "time, from planning the failover to its confirmed state."
            )
            from awsfailover.sim.demo_arbiter import arbiter_steps

            code = arbiter_steps(world, sim, tmpdir, base_env, lambda: _show(world, names))
            if code:
                return code
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(run())
