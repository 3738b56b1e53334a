"""iam-policy: exact output per scenario, the iam/ examples, parliament, no mutation on "*"."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import ROOT

from awsfailover.iam.policy import Scope, build, partition_of, render

EXAMPLES = sorted((ROOT / "iam" / "examples").glob("*.args"))
ACCT = "111122223333"
ENI_A, ENI_B = "eni-0a0a0a0a0a0a0a0a0", "eni-0b0b0b0b0b0b0b0b0"
RTB_1, RTB_2, RTB_3 = "rtb-01010101010101010", "rtb-02020202020202020", "rtb-03030303030303030"

DESCRIBE = {
    "Sid": "ObserveNetworkState",
    "Effect": "Allow",
    "Action": [
        "ec2:DescribeInstanceTypes",
        "ec2:DescribeInstances",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:GetSubnetCidrReservations",
    ],
    "Resource": "*",
}


def enis(partition: str, region: str) -> list[str]:
    return [
        f"arn:{partition}:ec2:{region}:{ACCT}:network-interface/{ENI_A}",
        f"arn:{partition}:ec2:{region}:{ACCT}:network-interface/{ENI_B}",
    ]


def test_ipv4_only_pair() -> None:
    scope = Scope("eu-west-1", ACCT, (ENI_B, ENI_A), (RTB_1,), ipv4=True)
    assert build(scope) == {
        "Version": "2012-10-17",
        "Statement": [
            DESCRIBE,
            {
                "Sid": "MoveIpv4VipsBetweenGroupEnis",
                "Effect": "Allow",
                "Action": ["ec2:AssignPrivateIpAddresses"],
                "Resource": enis("aws", "eu-west-1"),
            },
            {
                "Sid": "SteerRoutesToGroupEnis",
                "Effect": "Allow",
                "Action": ["ec2:ReplaceRoute"],
                "Resource": [f"arn:aws:ec2:eu-west-1:{ACCT}:route-table/{RTB_1}"],
            },
        ],
    }


def test_dual_stack_with_several_route_tables() -> None:
    scope = Scope("us-east-2", ACCT, (ENI_A, ENI_B), (RTB_3, RTB_1, RTB_2), ipv4=True, ipv6=True)
    assert build(scope) == {
        "Version": "2012-10-17",
        "Statement": [
            DESCRIBE,
            {
                "Sid": "MoveIpv4VipsBetweenGroupEnis",
                "Effect": "Allow",
                "Action": ["ec2:AssignPrivateIpAddresses"],
                "Resource": enis("aws", "us-east-2"),
            },
            {
                "Sid": "MoveIpv6VipsBetweenGroupEnis",
                "Effect": "Allow",
                "Action": ["ec2:AssignIpv6Addresses", "ec2:UnassignIpv6Addresses"],
                "Resource": enis("aws", "us-east-2"),
            },
            {
                "Sid": "SteerRoutesToGroupEnis",
                "Effect": "Allow",
                "Action": ["ec2:ReplaceRoute"],
                "Resource": [
                    f"arn:aws:ec2:us-east-2:{ACCT}:route-table/{RTB_1}",
                    f"arn:aws:ec2:us-east-2:{ACCT}:route-table/{RTB_2}",
                    f"arn:aws:ec2:us-east-2:{ACCT}:route-table/{RTB_3}",
                ],
            },
        ],
    }


@pytest.mark.parametrize(
    ("region", "partition"), [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")]
)
def test_partitions(region: str, partition: str) -> None:
    scope = Scope(region, ACCT, (ENI_A, ENI_B), (RTB_1,), ipv4=True, role="/appliance/fo")
    assert build(scope)["Statement"][1:] == [
        {
            "Sid": "MoveIpv4VipsBetweenGroupEnis",
            "Effect": "Allow",
            "Action": ["ec2:AssignPrivateIpAddresses"],
            "Resource": enis(partition, region),
        },
        {
            "Sid": "SteerRoutesToGroupEnis",
            "Effect": "Allow",
            "Action": ["ec2:ReplaceRoute"],
            "Resource": [f"arn:{partition}:ec2:{region}:{ACCT}:route-table/{RTB_1}"],
        },
        {
            "Sid": "PreflightSelfCheck",
            "Effect": "Allow",
            "Action": ["iam:GetRole", "iam:SimulatePrincipalPolicy"],
            "Resource": [f"arn:{partition}:iam::{ACCT}:role/appliance/fo"],
        },
    ]


def test_tag_scoped_enis() -> None:
    scope = Scope("eu-west-1", ACCT, (), (RTB_1,), ipv4=True, ipv6=True, tag=("grp", "edge-1"))
    stmts = build(scope)["Statement"]
    cond = {"StringEquals": {"ec2:ResourceTag/grp": "edge-1"}}
    any_eni = [f"arn:aws:ec2:eu-west-1:{ACCT}:network-interface/*"]
    assert stmts[1] == {
        "Sid": "MoveIpv4VipsBetweenGroupEnis",
        "Effect": "Allow",
        "Action": ["ec2:AssignPrivateIpAddresses"],
        "Resource": any_eni,
        "Condition": cond,
    }
    assert stmts[2]["Resource"] == any_eni
    assert stmts[2]["Condition"] == cond


def test_routes_only_group_gets_no_address_actions() -> None:
    stmts = build(Scope("eu-west-1", ACCT, (ENI_A,), (RTB_1, RTB_2)))["Statement"]
    assert [s["Sid"] for s in stmts] == ["ObserveNetworkState", "SteerRoutesToGroupEnis"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"account": "12345"}, "12-digit"),
        ({"enis": ("eni-nothex!",)}, "not an ENI id"),
        ({"route_tables": ("rtb-x",)}, "not a route table id"),
        ({"ipv4": True}, "no group ENI"),
    ],
)
def test_scope_refuses_bad_input(kwargs: dict, message: str) -> None:
    args = {"region": "eu-west-1", "account": ACCT, **kwargs}
    with pytest.raises(ValueError, match=message):
        Scope(**args)


def test_partition_of() -> None:
    assert partition_of("eu-north-1") == "aws"
    assert partition_of("cn-northwest-1") == "aws-cn"
    assert partition_of("us-gov-east-1") == "aws-us-gov"


# --- the iam/ examples: generated by the CLI today, linted by parliament ----------------------


def _cli(args: list[str]) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "awsfailover", "iam-policy", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "AWSFAILOVER_CONFIG": "/nonexistent/config.toml"},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_examples_exist() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("args_file", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_what_the_generator_prints(args_file: Path) -> None:
    args = shlex.split(args_file.read_text(), comments=True)
    assert _cli(args) == args_file.with_suffix(".json").read_text()


MUTATING_PREFIXES = (
    "ec2:Assign",
    "ec2:Unassign",
    "ec2:Replace",
    "ec2:Create",
    "ec2:Delete",
    "ec2:Modify",
)


@pytest.mark.parametrize("args_file", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_passes_parliament_and_grants_no_mutation_on_star(args_file: Path) -> None:
    from parliament import analyze_policy_string

    text = args_file.with_suffix(".json").read_text()
    findings = analyze_policy_string(text).findings
    assert [(f.issue, f.detail) for f in findings] == []
    for st in json.loads(text)["Statement"]:
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        if any(a.startswith(MUTATING_PREFIXES) for a in st["Action"]):
            assert all(r != "*" and not r.endswith(":*") for r in resources), st


def test_parliament_would_catch_a_wrong_resource() -> None:
    """The linter run above can fail: a mismatched resource type is a finding."""
    from parliament import analyze_policy_string

    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ec2:ReplaceRoute",
                "Resource": f"arn:aws:ec2:eu-west-1:{ACCT}:network-interface/{ENI_A}",
            }
        ],
    }
    assert analyze_policy_string(json.dumps(bad)).findings


def test_render_is_stable_json() -> None:
    scope = Scope("eu-west-1", ACCT, (ENI_A,), (RTB_1,), ipv4=True)
    assert json.loads(render(build(scope))) == build(scope)
    assert render(build(scope)).endswith("}\n")


def test_events_get_publish_on_the_topic_and_put_events_on_the_bus_only() -> None:
    """Issue 20: the agent's [events] sinks are granted on the configured topic and bus, each
    in its own statement (one statement would grant sns:Publish on the bus ARN too)."""
    topic = f"arn:aws:sns:eu-west-1:{ACCT}:awsfailover-events"
    scope = Scope("eu-west-1", ACCT, (ENI_A,), (), ipv4=True, sns_topic=topic, event_bus="ops")
    statements = build(scope)["Statement"]
    assert statements[-2:] == [
        {
            "Sid": "PublishEventsToTopic",
            "Effect": "Allow",
            "Action": ["sns:GetTopicAttributes", "sns:Publish"],
            "Resource": [topic],
        },
        {
            "Sid": "PutEventsOnBus",
            "Effect": "Allow",
            "Action": ["events:DescribeEventBus", "events:PutEvents"],
            "Resource": [f"arn:aws:events:eu-west-1:{ACCT}:event-bus/ops"],
        },
    ]
    bus = f"arn:aws-cn:events:cn-north-1:{ACCT}:event-bus/default"
    scoped = Scope("cn-north-1", ACCT, (ENI_A,), (), ipv4=True, event_bus=bus)
    assert build(scoped)["Statement"][-1]["Resource"] == [bus]
    without = build(Scope("eu-west-1", ACCT, (ENI_A,), (), ipv4=True))["Statement"]
    assert not [s for s in without if s["Sid"] in ("PublishEventsToTopic", "PutEventsOnBus")]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sns_topic": "arn:aws:sqs:eu-west-1:111122223333:q"}, "not an SNS topic ARN"),
        ({"event_bus": "bad bus name"}, "not an event bus name or ARN"),
    ],
)
def test_event_targets_are_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scope("eu-west-1", ACCT, (ENI_A,), (), ipv4=True, **kwargs)


def test_iam_policy_reads_the_events_section(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        'region = "eu-west-1"\n[node]\neni_id = "' + ENI_A + '"\n'
        f'[group]\nenis = ["{ENI_A}", "{ENI_B}"]\naccount_id = "{ACCT}"\n'
        f'[events]\nsns_topic_arn = "arn:aws:sns:eu-west-1:{ACCT}:t"\n'
        'eventbridge_bus = "default"\n'
        '[[instances]]\nname = "VI_1"\nvips = ["10.0.1.100"]\n'
    )
    r = subprocess.run(
        [sys.executable, "-m", "awsfailover", "--config", str(cfg), "iam-policy"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    sids = {s["Sid"]: s for s in json.loads(r.stdout)["Statement"]}
    assert sids["PublishEventsToTopic"]["Resource"] == [f"arn:aws:sns:eu-west-1:{ACCT}:t"]
    assert sids["PutEventsOnBus"]["Resource"] == [
        f"arn:aws:events:eu-west-1:{ACCT}:event-bus/default"
    ]
