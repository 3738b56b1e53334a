"""Issue 22: what an operator sees through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from helpers.nodes import Node


def test_a_closed_pipe_is_not_an_internal_error(world, node_b: Node) -> None:
    """`awsfailover ... | head`: the reader left; the command ends quietly."""
    node_b.config.write_text(  # a whole group: iam-policy has nothing to warn about
        node_b.config.read_text() + f'\n[group]\nenis = ["{world.eni_a}", "{world.eni_b}"]\n'
    )
    r, w = os.pipe()
    os.close(r)  # the reader is gone before the first write
    try:
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "awsfailover",
                "--config",
                str(node_b.config),
                "iam-policy",
                "--region",
                "eu-north-1",
                "--account",
                "123456789012",
            ],
            stdout=w,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        os.close(w)
    assert p.returncode == 0, p.stderr
    assert p.stderr == ""


def test_maintenance_status_refuses_what_on_and_off_refuse(node_b: Node) -> None:
    text = node_b.config.read_text()
    old = next(x for x in text.splitlines() if x.startswith("state_dir"))
    node_b.config.write_text(text.replace(old, 'state_dir = "run"'))
    r = node_b.run("maintenance", "status")
    assert r.code == 2 and "absolute" in r.err, r.err
    assert "OFF" not in r.out
    node_b.config.unlink()
    r = node_b.run("maintenance", "status")
    assert r.code == 2 and "not found" in r.err, r.err


def test_an_unknown_instance_leaves_nothing_in_state_dir(node_b: Node) -> None:
    run = node_b.dir / "run"
    for state in ("MASTER", "BACKUP"):
        r = node_b.run("notify", "INSTANCE", "VI_9", state, "100")
        assert r.code == 2 and "unknown instance 'VI_9'" in r.err, r.err
    assert not list(run.glob("VI_9*")) if run.exists() else True
    assert node_b.run("notify", "INSTANCE", "VI_1", "BACKUP", "100").code == 0
    assert sorted(p.name for p in run.iterdir()) == ["VI_1.seq", "VI_1.seqlock"]


def test_an_unreachable_endpoint_is_one_line_with_what_did_not_move(node_b: Node) -> None:
    text = node_b.config.read_text().replace("deadline = 10", "deadline = 2")
    text = "\n".join(
        'endpoint_url = "http://127.0.0.1:9"' if x.startswith("endpoint_url") else x
        for x in text.splitlines()
    )
    node_b.config.write_text(text + "\n")
    r = node_b.master()
    assert r.code == 1, r.err
    assert "retrying" not in r.err  # retries are counted, not narrated
    summaries = [x for x in r.err.splitlines() if " retries in " in x]
    assert 1 <= len(summaries) <= 4, r.err  # one per call that retried (the observe's few)
    errors = [x for x in r.err.splitlines() if x.startswith("awsfailover: error: ")]
    assert len(errors) == 1, r.err
    assert "failed before any change: DescribeNetworkInterfaces" in errors[0]
    assert "EndpointConnectionError" in errors[0]
    assert "moved: nothing; NOT moved: vip 10.0.1.100" in errors[0]


def test_status_on_a_split_state_exits_3_and_lists_it(world, node_b: Node, ec2) -> None:
    import json

    from awsfailover.sim.world import ROUTE4

    assert node_b.run("status", "--json").code == 0  # converged on A
    ec2.replace_route(  # one route to B: the VIP on A, the rest on A, that route on B
        RouteTableId=world.rtb_clients[0],
        DestinationCidrBlock=ROUTE4,
        NetworkInterfaceId=world.eni_b,
    )
    r = node_b.run("status", "--json")
    assert r.code == 3, r.err
    doc = json.loads(r.out)["instances"][0]
    assert doc["converged_on"] is None
    (problem,) = doc["problems"]
    assert problem.startswith("not converged: ")
    assert f"route {world.rtb_clients[0]} {ROUTE4} on {world.eni_b}" in problem
    assert "vip 10.0.1.100" in problem and f"on {world.eni_a}" in problem
    text = node_b.run("status")
    assert (
        text.code == 3
        and "NOT CONVERGED (split)" in text.out
        and "problem: not converged" in text.out
    )


def test_counts_read_right_and_a_dry_run_says_so(world, tmp_path) -> None:
    inst = world.instance_toml("VI_1", vips=["10.0.1.100"], routes=[])
    node = Node(world, world.eni_b, tmp_path, "b", instances=inst)
    r = node.run("takeover", "--dry-run")
    assert r.code == 0, r.err
    assert r.out.startswith("VI_1 (dry run): assign-private-ip 10.0.1.100 -> "), r.out
    r = node.master()
    assert r.code == 0, r.err
    assert "(1 mutating call)" in r.err, r.err


@pytest.mark.parametrize(
    "env", [{}, {"AWS_EC2_METADATA_DISABLED": "true"}], ids=["unreachable", "disabled"]
)
def test_metadata_advice_only_where_the_config_could_replace_it(
    world, node_b: Node, env: dict[str, str]
) -> None:
    # region and node.eni_id are set: metadata only confirms, and its absence is no advice
    r = node_b.master(env=env)
    assert r.code == 0, r.err
    assert "instance metadata" in r.err and "in the config" not in r.err, r.err
    # without node.eni_id, discovery needs metadata: then the advice is right
    node_b.config.write_text(node_b.config.read_text().replace(f'eni_id = "{world.eni_b}"\n', ""))
    r = node_b.master(env=env)
    assert r.code == 2, r.err
    assert "or set node.eni_id in the config" in r.err and "set region" not in r.err, r.err


def test_a_wrong_region_is_named(world, node_b: Node) -> None:
    r = node_b.master(env={"AWSFAILOVER_REGION": "eu-west-1"})
    assert r.code == 2, r.err
    assert f"{world.eni_b} does not exist in eu-west-1" in r.err, r.err
    assert "check region in the config" in r.err


def test_iam_policy_without_group_enis_says_what_it_narrowed(world, node_b: Node) -> None:
    r = node_b.run("iam-policy", "--account", "123456789012")
    assert r.code == 0, r.err
    assert "warning: no group.enis in the config" in r.err and world.eni_b in r.err
    node_b.config.write_text(
        node_b.config.read_text() + f'\n[group]\nenis = ["{world.eni_a}", "{world.eni_b}"]\n'
    )
    r = node_b.run("iam-policy", "--account", "123456789012")
    assert r.code == 0 and "warning" not in r.err, r.err
