"""The least-privilege IAM policy for a failover group. No AWS call, no config file.

The actions come from aws.actions; requirements() pairs each with its concrete resources, the
policy is that list grouped into one statement per resource kind, and `check-iam` evaluates
the same list against the principal, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from awsfailover.aws.actions import names
from awsfailover.core.names import (
    ACCOUNT_RE,
    DYNAMODB_TABLE_RE,
    EIPALLOC_RE,
    ENI_RE,
    GROUP_NAME_RE,
    RTB_RE,
)

# Derived from the one list of what each call needs (aws.actions).
DESCRIBE_ACTIONS = names("describe")
EIP_DESCRIBE_ACTIONS = names("describe-eip")  # only when Elastic IPs are configured
IPV4_ACTIONS = names("ipv4")
IPV6_ACTIONS = names("ipv6")
ROUTE_ACTIONS = names("route")
EIP_ACTIONS = names("eip")
SELF_CHECK_ACTIONS = names("self-check")
SNS_ACTIONS = names("sns")
EVENTBRIDGE_ACTIONS = names("eventbridge")
LEASE_ACTIONS = names("arbiter")
LEASE_TABLE_ACTIONS = names("arbiter-describe")
LEADING_KEYS = "dynamodb:LeadingKeys"

SID_DESCRIBE = "ObserveNetworkState"
SID_IPV4 = "MoveIpv4VipsBetweenGroupEnis"
SID_IPV6 = "MoveIpv6VipsBetweenGroupEnis"
SID_ROUTES = "SteerRoutesToGroupEnis"
SID_EIP = "ReassociateElasticIpsToGroupEnis"
SID_EIP_ENI = "ReassociateElasticIpsToTaggedEnis"
SID_SELF_CHECK = "PreflightSelfCheck"
SID_SNS = "PublishEventsToTopic"
SID_EVENTBRIDGE = "PutEventsOnBus"
SID_LEASES = "HoldTheGroupsLeases"
SID_LEASE_TABLE = "DescribeTheLeaseTable"

_TAG_KEY_RE = re.compile(r"^[\w .:/=+\-@]{1,128}$")
_ROLE_RE = re.compile(r"^(/[\w+=,.@-]+)*/?[\w+=,.@-]{1,64}$")
_SNS_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256}$")
_BUS_NAME_RE = re.compile(r"^[\w.\-/]{1,256}$")
_BUS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[\w.\-/]{1,256}$")


def partition_of(region: str) -> str:
    """ARN partition of a Region: China and GovCloud have their own."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass(frozen=True)
class Scope:
    """What the group's agent touches. `tag` scopes the ENI statements by tag instead of by id
    (for groups whose ENIs are replaced often); `role` adds the self-check statement."""

    region: str
    account: str
    enis: tuple[str, ...] = ()
    route_tables: tuple[str, ...] = ()
    ipv4: bool = False
    ipv6: bool = False
    tag: tuple[str, str] | None = None
    role: str | None = None
    eips: tuple[str, ...] = ()  # allocation ids
    sns_topic: str | None = None  # [events] sns_topic_arn
    event_bus: str | None = None  # [events] eventbridge_bus: a name or an ARN
    lease_table: str | None = None  # [arbiter] table
    lease_group: str | None = None  # group.name: every lease key starts with "<name>/"
    lease_instances: tuple[str, ...] = ()  # the instances whose leases check-iam simulates

    def __post_init__(self) -> None:
        problems = []
        if not ACCOUNT_RE.match(self.account):
            problems.append(f"account {self.account!r} is not a 12-digit account id")
        problems += [f"{e!r} is not an ENI id" for e in self.enis if not ENI_RE.match(e)]
        problems += [
            f"{r!r} is not a route table id" for r in self.route_tables if not RTB_RE.match(r)
        ]
        problems += [
            f"{a!r} is not an Elastic IP allocation id"
            for a in self.eips
            if not EIPALLOC_RE.match(a)
        ]
        if self.tag is not None and not _TAG_KEY_RE.match(self.tag[0]):
            problems.append(f"tag key {self.tag[0]!r} is not a valid tag key")
        if self.role is not None and not _ROLE_RE.match(self.role):
            problems.append(f"role {self.role!r} is not a role name (optionally /path/name)")
        if self.sns_topic is not None and not _SNS_RE.match(self.sns_topic):
            problems.append(f"{self.sns_topic[:80]!r} is not an SNS topic ARN")
        bus = self.event_bus
        if bus is not None and not (_BUS_ARN_RE.match(bus) or _BUS_NAME_RE.match(bus)):
            problems.append(f"{bus[:80]!r} is not an event bus name or ARN")
        if self.lease_table is not None and not (
            DYNAMODB_TABLE_RE.match(self.lease_table)
            and self.lease_group is not None
            and GROUP_NAME_RE.match(self.lease_group)
        ):
            problems.append("[arbiter] needs a table name and group.name")
        if (self.ipv4 or self.ipv6 or self.eips) and not self.enis and self.tag is None:
            problems.append(
                "VIPs or Elastic IPs are configured but no group ENI is known (group.enis, --eni)"
            )
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def eni_arn(self, eni: str) -> str:
        return f"arn:{self.partition}:ec2:{self.region}:{self.account}:network-interface/{eni}"

    def eip_arn(self, allocation_id: str) -> str:
        return f"arn:{self.partition}:ec2:{self.region}:{self.account}:elastic-ip/{allocation_id}"

    def route_table_arn(self, rtb: str) -> str:
        return f"arn:{self.partition}:ec2:{self.region}:{self.account}:route-table/{rtb}"

    def event_bus_arn(self) -> str:
        """PutEvents is authorised on the bus's ARN; a bare name is this account's bus."""
        assert self.event_bus is not None
        if self.event_bus.startswith("arn:"):
            return self.event_bus
        bus = self.event_bus
        return f"arn:{self.partition}:events:{self.region}:{self.account}:event-bus/{bus}"

    def lease_table_arn(self) -> str:
        assert self.lease_table is not None
        return (
            f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{self.lease_table}"
        )

    def role_arn(self) -> str:
        assert self.role is not None
        path_name = self.role if self.role.startswith("/") else f"/{self.role}"
        return f"arn:{self.partition}:iam::{self.account}:role{path_name}"


@dataclass(frozen=True)
class Requirement:
    sid: str
    action: str
    resource: str  # an ARN, or "*"
    context: tuple[tuple[str, str], ...] = ()  # condition keys a request carries (simulated)


def requirements(scope: Scope, *, self_check: bool = True) -> list[Requirement]:
    """Every (action, concrete resource) the agent needs; check-iam evaluates exactly these."""
    out = [Requirement(SID_DESCRIBE, a, "*") for a in DESCRIBE_ACTIONS]
    if scope.eips:
        out += [Requirement(SID_DESCRIBE, a, "*") for a in EIP_DESCRIBE_ACTIONS]
    enis = sorted(set(scope.enis))
    for flag, sid, actions in (
        (scope.ipv4, SID_IPV4, IPV4_ACTIONS),
        (scope.ipv6, SID_IPV6, IPV6_ACTIONS),
    ):
        if flag:
            out += [Requirement(sid, a, scope.eni_arn(e)) for a in actions for e in enis]
    out += [
        Requirement(SID_ROUTES, a, scope.route_table_arn(r))
        for a in ROUTE_ACTIONS
        for r in sorted(set(scope.route_tables))
    ]
    if scope.eips:
        out += [
            Requirement(SID_EIP, a, scope.eip_arn(e))
            for a in EIP_ACTIONS
            for e in sorted(scope.eips)
        ]
        out += [Requirement(SID_EIP, a, scope.eni_arn(e)) for a in EIP_ACTIONS for e in enis]
    if self_check and scope.role is not None:
        out += [Requirement(SID_SELF_CHECK, a, scope.role_arn()) for a in SELF_CHECK_ACTIONS]
    if scope.sns_topic is not None:
        out += [Requirement(SID_SNS, a, scope.sns_topic) for a in SNS_ACTIONS]
    if scope.event_bus is not None:
        out += [Requirement(SID_EVENTBRIDGE, a, scope.event_bus_arn()) for a in EVENTBRIDGE_ACTIONS]
    if scope.lease_table is not None:
        table = scope.lease_table_arn()
        out += [
            Requirement(SID_LEASES, a, table, ((LEADING_KEYS, f"{scope.lease_group}/{i}"),))
            for a in LEASE_ACTIONS
            for i in scope.lease_instances or ("*",)
        ]
        out += [Requirement(SID_LEASE_TABLE, a, table) for a in LEASE_TABLE_ACTIONS]
    return out


def statement(sid: str, reqs: Iterable[Requirement]) -> dict[str, Any]:
    """The smallest statement that grants reqs (all of one Sid)."""
    reqs = list(reqs)
    actions = sorted({r.action for r in reqs})
    resources = sorted({r.resource for r in reqs})
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": "*" if resources == ["*"] else resources,
    }


def _tag_statement(scope: Scope, sid: str, actions: tuple[str, ...]) -> dict[str, Any]:
    assert scope.tag is not None
    key, value = scope.tag
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": [scope.eni_arn("*")],
        "Condition": {"StringEquals": {f"ec2:ResourceTag/{key}": value}},
    }


def build(scope: Scope) -> dict[str, Any]:
    """The policy document: one statement per resource kind, in a fixed order."""
    by_sid: dict[str, list[Requirement]] = {}
    for req in requirements(scope):
        by_sid.setdefault(req.sid, []).append(req)
    statements = []
    order = (SID_DESCRIBE, SID_IPV4, SID_IPV6, SID_ROUTES, SID_EIP, SID_SELF_CHECK)
    for sid in (*order, SID_SNS, SID_EVENTBRIDGE, SID_LEASES, SID_LEASE_TABLE):
        tagged = scope.tag is not None and sid in (SID_IPV4, SID_IPV6)
        if tagged and ((sid == SID_IPV4 and scope.ipv4) or (sid == SID_IPV6 and scope.ipv6)):
            acts = IPV4_ACTIONS if sid == SID_IPV4 else IPV6_ACTIONS
            statements.append(_tag_statement(scope, sid, acts))
        elif sid == SID_EIP and scope.eips and scope.tag is not None:
            # the tag condition cannot sit on the elastic-ip ARNs (they carry no such tag):
            # one statement for the addresses by ARN, one for the ENIs by tag
            eips = [r for r in by_sid[sid] if ":elastic-ip/" in r.resource]
            statements.append(statement(sid, eips))
            statements.append(_tag_statement(scope, SID_EIP_ENI, EIP_ACTIONS))
        elif sid == SID_LEASES and sid in by_sid:
            # the item's partition key must start with the group's name: one table serves
            # many groups, and no group's role can touch another group's leases
            statements.append(lease_statement(scope, by_sid[sid]))
        elif sid in by_sid:
            statements.append(statement(sid, by_sid[sid]))
    return {"Version": "2012-10-17", "Statement": statements}


def lease_statement(scope: Scope, reqs: Iterable[Requirement]) -> dict[str, Any]:
    """The leases' statement: on the table, for items whose partition key starts with the
    group's name only (one table serves many groups; no group's role touches another's)."""
    st = statement(SID_LEASES, reqs)
    # one value, as a string: as Terraform's aws_iam_policy_document renders it
    st["Condition"] = {"ForAllValues:StringLike": {LEADING_KEYS: f"{scope.lease_group}/*"}}
    return st


def render(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2) + "\n"
