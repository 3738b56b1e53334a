"""`make bench`: each row a ratio measured side by side in one run, on the local endpoint.

Writes bench/results.md (the table) and bench/results.png (takeover-latency distributions).
Rows 5, 8 and 9 (keepalived lab pairs) need root, ip and keepalived; without them the row says
so. Row 9 holds an idle pair under load for BENCH_STEADY seconds (600).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from agent_figures import ENV, handoff_times, start_agent
from idle_cost import row8
from metadata_confirm import row10
from sub_second import row9

from awsfailover.sim.floor import client_build_seconds
from awsfailover.sim.server import SimClient, spawn
from awsfailover.sim.world import (
    PUBLIC_VIP,
    REGION,
    ROUTE4,
    VIP4,
    World,
    add_public_side,
    build,
    ec2_client,
    holder,
)

OUT = Path(__file__).resolve().parent
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
LATENCY = 0.05
# Row 3: at 50 ms this machine's CPU dominates a two-round-trip takeover; 200 ms shows the shape.
ROW3_LATENCY = 0.2


def median(v: list[float]) -> float:
    return statistics.median(v)


def add_tables(world: World, count: int, routes_per_table: int) -> list[str]:
    """count more route tables, each with routes_per_table IPv4 routes to ENI A."""
    ec2 = ec2_client(world.endpoint_url)
    tables = []
    for _ in range(count):
        rtb = ec2.create_route_table(VpcId=world.vpc_id)["RouteTable"]["RouteTableId"]
        for j in range(routes_per_table):
            dest = ROUTE4 if j == 0 else f"198.18.{j}.0/24"
            ec2.create_route(
                RouteTableId=rtb, DestinationCidrBlock=dest, NetworkInterfaceId=world.eni_a
            )
        tables.append(rtb)
    return tables


def config(
    world: World,
    d: Path,
    eni: str,
    tables: list[str],
    routes: list[str],
    vips: list[str],
    agent: str = "",
) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    inst = world.instance_toml(
        vips=vips,
        routes=routes,
        selector="route_tables = [" + ", ".join(f'"{t}"' for t in tables) + "]",
    )
    cfg = d / "config.toml"
    cfg.write_text(world.config_toml(eni, instances=inst, state_dir=d / "run") + agent)
    return cfg


def run_cli(cfg: Path, *args: str) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "awsfailover", "--config", str(cfg), *args],
        env=ENV,
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def awscli_times(world: World, tables: list[str], eni: str) -> float:
    aws = shutil.which("aws")
    assert aws is not None
    base = [aws, "--endpoint-url", world.endpoint_url, "--region", REGION, "ec2"]
    started = time.monotonic()
    subprocess.run(
        [
            *base,
            "assign-private-ip-addresses",
            "--network-interface-id",
            eni,
            "--private-ip-addresses",
            VIP4,
            "--allow-reassignment",
        ],
        env=ENV,
        check=True,
        capture_output=True,
    )
    for t in tables:
        subprocess.run(
            [
                *base,
                "replace-route",
                "--route-table-id",
                t,
                "--destination-cidr-block",
                ROUTE4,
                "--network-interface-id",
                eni,
            ],
            env=ENV,
            check=True,
            capture_output=True,
        )
    return time.monotonic() - started


def row1(world: World, tmp: Path) -> tuple[str, dict[str, list[float]]]:
    """Hook cold start vs the awscli sequence, alternating targets so each run moves everything."""
    tables = world.rtb_clients
    cfgs = {
        e: config(world, tmp / f"r1-{e}", e, tables, [ROUTE4], [VIP4])
        for e in (world.eni_a, world.eni_b)
    }
    ec2 = ec2_client(world.endpoint_url)
    hook, cli, floor = [], [], []
    for i in range(RUNS):
        target = world.eni_b if i % 2 == 0 else world.eni_a
        hook.append(run_cli(cfgs[target], "notify", "INSTANCE", "VI_1", "MASTER", "100"))
        assert holder(ec2, VIP4) == [target]
        floor.append(client_build_seconds(world.endpoint_url, ENV))
        back = world.eni_a if target == world.eni_b else world.eni_b
        cli.append(awscli_times(world, tables, back))
        assert holder(ec2, VIP4) == [back]
    ratio = median(cli) / median(hook)
    text = (
        f"| 1 | hook cold start (`notify ... MASTER`, 1 VIP + {len(tables)} route tables) vs awscli "
        f"(`assign-private-ip-addresses --allow-reassignment` + {len(tables)} x `replace-route`), "
        f"and vs a bare interpreter that only builds an EC2 client (the floor of a cold hook) | "
        f"hook {median(hook) * 1000:.0f} ms, awscli {median(cli) * 1000:.0f} ms, floor "
        f"{median(floor) * 1000:.0f} ms (medians of {RUNS}, interleaved) | "
        f"awscli / hook = **{ratio:.2f}**; hook / floor = **{median(hook) / median(floor):.2f}** |"
    )
    return text, {"hook cold start": hook, "awscli sequence": cli, "bare EC2 client": floor}


def fifo_takeover(d: Path, log: Path, timeout: float) -> float:
    seen = log.read_text().count("converged on")
    started = time.monotonic()
    with (d / "notify.fifo").open("w") as fh:
        fh.write('INSTANCE "VI_1" MASTER 100\n')
    end = time.monotonic() + timeout
    while log.read_text().count("converged on") == seen:
        assert time.monotonic() < end, f"takeover did not converge ({log})"
        time.sleep(0.005)
    return time.monotonic() - started


def agent_cfg(d: Path, deadline: float, reconcile: float = 3600) -> str:
    return (
        f'[agent]\nsocket = "{d}/agent.sock"\nmetrics_address = ""\nfifo = "{d}/notify.fifo"\n'
        f"reconcile_interval = {reconcile:g}\ntakeover_deadline = {deadline}\n"
    )


def rows23(world: World, tmp: Path, sim: SimClient) -> tuple[list[str], dict[str, list[float]]]:
    tables = add_tables(world, 10, 1)
    agents, cfgs, logs = {}, {}, {}
    for label, eni in (("a", world.eni_a), ("b", world.eni_b)):
        d = tmp / f"r3-{label}"
        d.mkdir()
        # reconcile every second: the BACKUP knows where everything is, as its reconcile loop
        # keeps it knowing in production (every reconcile_interval)
        cfg = agent_cfg(d, 10, reconcile=1)
        cfgs[label] = config(world, d, eni, tables, [ROUTE4], [VIP4], cfg)
        logs[label] = d / "agent.log"
        agents[label] = start_agent(cfgs[label], logs[label])
    try:
        hand, bare = handoff_times(cfgs["a"], RUNS * 3)
        sim.set_faults(latency=ROW3_LATENCY)
        take = []
        acted_first = 0
        for i in range(RUNS):
            node, other = ("b", "a") if i % 2 == 0 else ("a", "b")
            with (cfgs[other].parent / "notify.fifo").open("w") as fh:
                fh.write('INSTANCE "VI_1" BACKUP 100\n')  # as keepalived tells the old master
            time.sleep(3)  # the next MASTER's reconcile has seen the last takeover
            before = logs[node].read_text().count("acting first")
            take.append(fifo_takeover(cfgs[node].parent, logs[node], 30))
            acted_first += logs[node].read_text().count("acting first") > before
        sim.set_faults()
    finally:
        for p in agents.values():
            p.terminate()
            p.wait(timeout=15)
    # Acting first from warm state, a takeover is two dependent steps: act (Assign and the
    # ReplaceRoutes concurrently), confirm (one Describe round): 2 round trips.
    floor = 2 * ROW3_LATENCY
    ms = ROW3_LATENCY * 1000
    return [
        f"| 2 | hook hand-off to a running agent (cold `notify`, agent answers) vs a bare start of the same interpreter (`python -c pass`), interleaved | hand-off median {median(hand) * 1000:.0f} ms, bare {median(bare) * 1000:.0f} ms, over {len(hand)} each | hand-off / bare = **{median(hand) / median(bare):.2f}** |",
        f"| 3 | agent takeover acting first, 1 VIP + 10 route tables, {ms:.0f} ms per API call ({acted_first} of {RUNS} acted first) | median {median(take) * 1000:.0f} ms over {RUNS}; floor 2 x {ms:.0f} ms = {floor * 1000:.0f} ms (act, confirm) | time / floor = **{median(take) / floor:.2f}** |",
    ], {"hook hand-off": hand, f"agent takeover ({ms:.0f} ms/call)": take}


def row4(world: World, tmp: Path, sim: SimClient) -> str:
    tables = add_tables(world, 50, 10)
    routes = [ROUTE4, *(f"198.18.{j}.0/24" for j in range(1, 10))]
    d = tmp / "r4"
    d.mkdir()
    cfg = config(world, d, world.eni_b, tables, routes, [], agent_cfg(d, 300))
    log = d / "agent.log"
    agent = start_agent(cfg, log)
    try:
        sim.set_faults(buckets=True)
        took = fifo_takeover(d, log, 400)
        outcomes = sim.outcomes()
        sim.set_faults()
    finally:
        agent.terminate()
        agent.wait(timeout=15)
    n = len(tables) * len(routes)
    floor = max(0, n - 50) / 5  # ReplaceRoute: the mutating bucket, burst 50, refill 5/s
    throttled = outcomes.get("ReplaceRoute:throttled", 0)
    return (
        f"| 4 | {n} routes over {len(tables)} route tables, EC2's token buckets enforced | {took:.1f} s "
        f"({throttled} ReplaceRoute answers throttled and retried); floor ({n} - 50) / 5 per s = {floor:.0f} s "
        f"(F5 CFE documents 90 s for 500 routes in one table) | time / floor = **{took / floor:.2f}** |"
    )


def row6(world: World, tmp: Path, sim: SimClient) -> tuple[str, dict[str, list[float]]]:
    """Other clients of the account use half of every token bucket (EC2's buckets are per
    account and Region), ID-only DescribeNetworkInterfaces counts in the small unfiltered
    bucket: takeovers back and forth between two agents, each bounded by its deadline."""
    tables = add_tables(world, 10, 1)
    deadline = 5.0
    agents, cfgs, logs = {}, {}, {}
    for label, eni in (("a", world.eni_a), ("b", world.eni_b)):
        d = tmp / f"r6-{label}"
        d.mkdir()
        cfgs[label] = config(world, d, eni, tables, [ROUTE4], [VIP4], agent_cfg(d, deadline))
        logs[label] = d / "agent.log"
        agents[label] = start_agent(cfgs[label], logs[label])
    try:
        sim.set_faults(buckets=True, bucket_share=0.5, latency=LATENCY)
        take = []
        for i in range(RUNS):
            node, other = ("b", "a") if i % 2 == 0 else ("a", "b")
            with (cfgs[other].parent / "notify.fifo").open("w") as fh:
                fh.write('INSTANCE "VI_1" BACKUP 100\n')  # as keepalived tells the old master
            take.append(fifo_takeover(cfgs[node].parent, logs[node], 60))
        throttled = sum(n for k, n in sim.outcomes().items() if k.endswith(":throttled"))
        sim.set_faults()
    finally:
        for p in agents.values():
            p.terminate()
            p.wait(timeout=15)
    worst = max(take)
    return (
        f"| 6 | agent takeover, 1 VIP + 10 route tables, {LATENCY * 1000:.0f} ms per call, other "
        f"clients using half of every EC2 token bucket | median {median(take) * 1000:.0f} ms, "
        f"worst {worst * 1000:.0f} ms over {RUNS} ({throttled} throttled answers); deadline "
        f"{deadline:.0f} s | worst / deadline = **{worst / deadline:.2f}** |"
    ), {"agent takeover (half buckets)": take}


def row7(world: World, tmp: Path, sim: SimClient) -> tuple[str, dict[str, list[float]]]:
    """A two-NIC gateway pair: the public ENI's VIP and its Elastic IP, back and forth between
    two agents. The Elastic IP mapped to the VIP moves with it (one AssignPrivateIpAddresses);
    mapped to each node's own primary address it takes an AssociateAddress, concurrent with
    the VIP move. Either way: observe, act, confirm, 3 round trips."""
    pub = add_public_side(world)
    results: dict[str, list[float]] = {}
    calls: dict[str, int] = {}
    for label, private_ip in (("with the VIP", None), ("to each node's primary", "primary")):
        agents, cfgs, logs = {}, {}, {}
        eip = f'{{ allocation_id = "{pub.allocation_id}"' + (
            f', private_ip = "{private_ip}" }}' if private_ip else " }"
        )
        for node, eni, pub_eni in (("a", world.eni_a, pub.eni_a), ("b", world.eni_b, pub.eni_b)):
            d = tmp / f"r7-{len(results)}-{node}"
            d.mkdir()
            inst = (
                f'[[instances]]\nname = "VI_1"\neni_id = "{pub_eni}"\n'
                f'vips = ["{PUBLIC_VIP}"]\neips = [{eip}]\n'
            )
            cfgs[node] = d / "config.toml"
            cfgs[node].write_text(
                world.config_toml(eni, instances=inst, state_dir=d / "run") + agent_cfg(d, 10)
            )
            logs[node] = d / "agent.log"
            agents[node] = start_agent(cfgs[node], logs[node])
        try:
            fifo_takeover(cfgs["a"].parent, logs["a"], 30)  # start from A, the mapping set
            sim.reset_calls()
            sim.set_faults(latency=LATENCY)
            take = []
            for i in range(RUNS):
                node = "b" if i % 2 == 0 else "a"
                take.append(fifo_takeover(cfgs[node].parent, logs[node], 30))
            calls[label] = sim.calls().get("AssociateAddress", 0)
            sim.set_faults()
        finally:
            for p in agents.values():
                p.terminate()
                p.wait(timeout=15)
        results[label] = take
    floor = 3 * LATENCY
    follow, assoc = results["with the VIP"], results["to each node's primary"]
    follow_calls, assoc_calls = calls["with the VIP"], calls["to each node's primary"]
    return (
        f"| 7 | two-NIC gateway pair, agent takeover of the public VIP + Elastic IP, "
        f"{LATENCY * 1000:.0f} ms per call | EIP mapped to the VIP (moves with it, "
        f"{follow_calls} AssociateAddress): median {median(follow) * 1000:.0f} ms; "
        f"mapped to each node's primary ({assoc_calls} "
        f"AssociateAddress over {RUNS}): median {median(assoc) * 1000:.0f} ms; floor 3 x "
        f"{LATENCY * 1000:.0f} ms = {floor * 1000:.0f} ms | time / floor = "
        f"**{median(follow) / floor:.2f}** with the VIP, **{median(assoc) / floor:.2f}** "
        "with AssociateAddress |"
    ), {"EIP takeover (with the VIP)": follow, "EIP takeover (AssociateAddress)": assoc}


def _settled(lab: Any, node: Any) -> bool:
    return bool(lab.masters() == [node.name] and lab.converged_on(node))


def row5() -> tuple[str, dict[str, list[float]]]:
    from awsfailover.sim.lab import Lab, missing_requirements, wait_for

    missing = missing_requirements()
    if missing:
        return f"| 5 | keepalived end to end | not measured: {missing} | - |", {}
    advert, backup_prio = 1.0, 100
    master_down = 3 * advert + (256 - backup_prio) / 256 * advert
    out: dict[str, list[float]] = {}
    parts = []
    for mode in ("hook", "agent"):
        lab = Lab.start([150, backup_prio], use_agent=mode == "agent", advert_int=advert)
        try:
            a, b = lab.nodes
            for n in lab.nodes:
                lab.start_node(n)
            times, after_master = [], []
            for _ in range(max(3, RUNS // 2)):
                assert wait_for(partial(_settled, lab, a), 30) is not None
                lab.kill_keepalived(a)
                master, conv = lab.measure(b)
                assert conv is not None and master is not None
                times.append(conv)
                after_master.append(conv - master)
                lab.start_node(a)
            out[f"e2e kill -> converged ({mode})"] = times
            parts.append(
                f"{mode}: median {median(times):.2f} s over {len(times)} (EC2 converged "
                f"{median(after_master) * 1000:.0f} ms after keepalived's MASTER), "
                f"ratio **{median(times) / master_down:.2f}**"
            )
        finally:
            lab.close()
    return (
        f"| 5 | keepalived master killed -> converged EC2 state, advert_int {advert:g} s | master-down interval "
        f"3 x {advert:g} + (256 - {backup_prio}) / 256 = {master_down:.2f} s | "
        + "; ".join(parts)
        + " |"
    ), out


def plot(dists: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    labels = list(dists)
    ax.boxplot(
        [[v * 1000 for v in dists[k]] for k in labels], orientation="horizontal", showmeans=True
    )
    for i, k in enumerate(labels, start=1):
        ax.scatter([v * 1000 for v in dists[k]], [i] * len(dists[k]), s=12, alpha=0.6)
    ax.set_yticks(range(1, len(labels) + 1), labels)
    ax.set_xscale("log")
    ax.set_xlabel("milliseconds (log scale)")
    ax.set_title("awsfailover takeover latency, one `make bench` run on the local endpoint")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        proc, url = spawn(log_path=tmp / "sim.log")
        sim = SimClient(url)
        rows: list[str] = []
        dists: dict[str, Any] = {}
        try:
            world = build(url)
            text, d = row1(world, tmp)
            rows.append(text)
            dists.update(d)
            texts, d = rows23(world, tmp, sim)
            rows += texts
            dists.update(d)
            sim.reset()
            rows.append(row4(build(url), tmp, sim))
            sim.reset()
            text, d = row6(build(url), tmp, sim)
            rows.append(text)
            dists.update(d)
            sim.reset()
            text, d = row7(build(url), tmp, sim)
            rows.append(text)
            dists.update(d)
            sim.reset()
            rows.append(row10(build(url), tmp, sim, ROW3_LATENCY, RUNS))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    text, d = row5()
    rows.append(text)
    dists.update(d)
    rows.append(row8())
    text, d = row9()
    rows.append(text)
    dists.update(d)
    rows.sort(key=lambda r: int(r.split("|")[1]))
    table = "\n".join(["| # | what | measured | ratio |", "| --- | --- | --- | --- |", *rows])
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    (OUT / "results.md").write_text(
        f"# make bench results\n\nOne run, {stamp}, {os.cpu_count()} cores, local endpoint (moto, strict).\n\n"
        f"{table}\n\n![takeover latency distributions](results.png)\n"
    )
    plot(dists, OUT / "results.png")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
