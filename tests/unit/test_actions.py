"""The one list of IAM actions (aws.actions) against what the code calls, what check-iam can
dry-run, and what the Terraform role grants."""

from __future__ import annotations

import re

from helpers.paths import ROOT

from awsfailover.aws.actions import ACTIONS, names
from awsfailover.aws.ec2 import Ec2

# needs no permission (STS answers every caller)
FREE = {"GetCallerIdentity"}


def camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def test_every_call_the_aws_package_makes_is_listed() -> None:
    called = set()
    for f in (ROOT / "awsfailover" / "aws").glob("*.py"):
        text = f.read_text()
        called |= {
            camel(m)
            for m in re.findall(r"\b(?:c|client|self\.client|self\.iam)\.([a-z0-9_]+)\(", text)
        }
        called |= set(re.findall(r'call_once\(\s*"([A-Za-z]+)"', text))
    # the agent's event senders (SNS, EventBridge) hold their client in a one-item list
    senders = (ROOT / "awsfailover" / "agent" / "sinks" / "senders.py").read_text()
    called |= {camel(m) for m in re.findall(r"\bclient\[0\]\.([a-z0-9_]+)\(", senders)}
    listed = {a.name.split(":", 1)[1] for a in ACTIONS}
    assert called - FREE <= listed, sorted(called - FREE - listed)
    # and nothing is listed that nothing calls
    assert listed <= called, sorted(listed - called)


def test_every_read_has_a_dry_run() -> None:
    ec2 = Ec2(client=None)  # type: ignore[arg-type]  # the table is built without calling
    assert ec2.dry_run_actions() == set(names("describe", "describe-eip"))


def test_the_terraform_role_grants_exactly_the_list() -> None:
    text = (ROOT / "terraform" / "iam.tf").read_text()
    granted = set(re.findall(r'"((?:ec2|iam|sns|events|dynamodb):[A-Za-z0-9]+)"', text))
    granted.discard("dynamodb:LeadingKeys")  # the leases' condition key, not an action
    # the module's role carries the self-check statement too (iam-policy --role)
    assert granted == {a.name for a in ACTIONS}
