"""The demo's arbiter steps: the same pair with [arbiter], its table in the local endpoint.

B's agent holds the lease and renews it (this process does it for B, as B's agent would); a
cut VRRP path makes A MASTER too, and A moves nothing. Then B dies (the renewals stop) and A,
made MASTER again, waits out the lease's ttl on its own clock and takes everything.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from awsfailover.aws.lease_table import DynamoLeaseTable, make_dynamodb_client
from awsfailover.core.lease import Lease
from awsfailover.errors import TransientError
from awsfailover.sim import SimClient
from awsfailover.sim.world import REGION, World, arbiter_toml, create_lease_table

TTL = 1.5  # seconds: at most the master-down interval of the advert_int keepalived runs
DEADLINE = 4.0  # the takeover's: a hook refused the lease has waited all of it


def arbiter_steps(
    world: World, sim: SimClient, tmp: Path, env: dict[str, str], show: Callable[[], None]
) -> int:
    from awsfailover.sim.demo import notify

    table = create_lease_table(world.endpoint_url)
    configs = {}
    for label, eni in (("A", world.eni_a), ("B", world.eni_b)):
        path = tmp / f"node-{label}-arbiter.toml"
        text = world.config_toml(
            eni, state_dir=tmp / f"run-{label}-arbiter", extra=arbiter_toml(table, TTL)
        ).replace("deadline = 10\n", f"deadline = {DEADLINE:g}\n")  # a refusal waits it out
        path.write_text(text)
        configs[label] = path
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = world.endpoint_url  # this process: the demo's
    ddb = DynamoLeaseTable(make_dynamodb_client(REGION, 2.0), table)
    print(
        f"\nthe lease arbiter: DynamoDB table {table} in the same endpoint, lease_ttl {TTL:g}s, "
        'leases "lab/<instance>"'
    )
    b_lease = Lease(ddb, "lab/VI_1", world.eni_b, TTL)
    b_lease.look(2)
    b_lease.take(2)
    stop = threading.Event()

    def renew() -> None:  # what B's agent does while B is MASTER
        while not stop.wait(TTL / 3):
            try:
                b_lease.renew(2)
            except TransientError as exc:  # a missed renewal; the next one is ttl/3 away
                print(f"    (B's renewal failed: {exc})")

    renewer = threading.Thread(target=renew, daemon=True)
    renewer.start()
    print(
        f"[5] B's agent holds VI_1's lease (token {b_lease.token}) and renews it every {TTL / 3:g}s"
    )
    steps = (
        ("6", "the VRRP path is cut: keepalived makes A MASTER too, while B renews", False),
        ("7", "B dies (its renewals stop): keepalived makes A MASTER", True),
    )
    for step, title, moves in steps:
        if moves:
            stop.set()
            renewer.join(5)
        res, wall, mutating = notify(configs["A"], env, sim)
        print(
            f"\n[{step}] {title}: exit {res.returncode}, {wall * 1000:.0f} ms wall time, "
            f"{mutating} mutating EC2 calls"
        )
        for line in res.stderr.strip().splitlines():
            print(f"    | {line}")
        show()
        if bool(mutating) != moves:
            print("    UNEXPECTED: the arbiter did not decide as it should")
            return 1
    rec = ddb.read("lab/VI_1", 2)
    print(
        f"\nthe lease now: holder {rec.holder if rec else '-'}, token {rec.token if rec else '-'}"
    )
    return 0
