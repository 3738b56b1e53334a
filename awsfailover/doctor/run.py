"""`awsfailover doctor`: identify this node, gather the facts, judge them, print one line per
check (PASS, WARN or FAIL with the fix). Exit 1 when any check fails."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from awsfailover.aws.clients import make_ec2_client
from awsfailover.aws.ec2 import Ec2
from awsfailover.aws.node import NodeFacts
from awsfailover.config.schema import Settings
from awsfailover.doctor.facts import FAIL, IMDS_FIX, PASS, WARN, Line
from awsfailover.doctor.judge import judge
from awsfailover.doctor.probes import gather
from awsfailover.errors import AwsError, MetadataError

__all__ = ["run"]


def run(settings: Settings, expect_agent: bool, out: TextIO = sys.stdout) -> int:
    facts = NodeFacts(settings)  # one metadata session for the whole command
    try:
        node = facts.node()
    except MetadataError as exc:
        # Without this node's ENI and Region nothing else can be looked at.
        _print([Line(FAIL, "imds", f"this node cannot be identified: {exc}", IMDS_FIX)], out)
        return 1
    imds_needed = settings.node.eni_id is None or (
        settings.region is None
        and not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    )
    client = make_ec2_client(node.region, settings.endpoint_url)
    try:
        resolved = facts.instance_enis([i for i in settings.specs if i.interface and not i.eni_id])
    except MetadataError as exc:
        _print([Line(FAIL, "imds", f"an instance's interface has no ENI: {exc}", IMDS_FIX)], out)
        return 1
    try:
        found = gather(
            settings,
            facts,
            Ec2(client),
            node.eni_id,
            expect_agent=expect_agent,
            imds_needed=imds_needed,
            resolved=resolved,
        )
    except AwsError as exc:
        # Without this node's own ENI nothing else can be judged.
        _print(
            [
                Line(
                    FAIL,
                    "enis",
                    f"cannot describe the group's ENIs: {exc}",
                    "allow ec2:DescribeNetworkInterfaces (`awsfailover iam-policy` includes it)",
                )
            ],
            out,
        )
        return 1
    return _print(judge(settings, found), out)


def _print(lines: list[Line], out: TextIO) -> int:
    width = max(len(line.check) for line in lines)
    for line in lines:
        print(f"{line.status}  {line.check.ljust(width)}  {line.message}", file=out)
        if line.fix and line.status != PASS:
            print(f"      {' ' * width}  fix: {line.fix}", file=out)
    fails = sum(line.status == FAIL for line in lines)
    warns = sum(line.status == WARN for line in lines)
    print(f"{len(lines)} checks: {fails} failed, {warns} warnings", file=out)
    return 1 if fails else 0
