"""Every IAM action awsfailover's calls need, and what each is for: the one list.

iam-policy's statements, check-iam's simulations and dry runs, and the actions doctor names
when a probe is denied are all derived from ACTIONS; the Terraform role and the aws package's
own calls are held equal to it by tests (tests/unit/test_actions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ACTIONS", "Action", "Need", "names", "probe_actions"]

# describe: the engine's and doctor's reads, always; describe-eip: only with Elastic IPs;
# ipv4/ipv6/route/eip: the moves, on the group's resources; self-check: check-iam on itself;
# sns/eventbridge: the agent's events ([events]), on the configured topic and bus only;
# arbiter: the lease ([arbiter]), on the table's items whose key starts with the group's name;
# arbiter-describe: doctor's look at that table's key schema.
Need = Literal[
    "describe",
    "describe-eip",
    "ipv4",
    "ipv6",
    "route",
    "eip",
    "self-check",
    "sns",
    "eventbridge",
    "arbiter",
    "arbiter-describe",
]


@dataclass(frozen=True)
class Action:
    name: str
    need: Need
    probe: str | None = None  # the doctor probe that calls it, if any


ACTIONS: tuple[Action, ...] = (
    Action("ec2:DescribeNetworkInterfaces", "describe"),
    Action("ec2:DescribeRouteTables", "describe", probe="route_tables"),
    Action("ec2:DescribeSubnets", "describe", probe="subnets"),
    Action("ec2:DescribeSecurityGroups", "describe", probe="security_groups"),
    Action("ec2:GetSubnetCidrReservations", "describe", probe="reservations"),
    Action("ec2:DescribeInstances", "describe", probe="instances"),
    Action("ec2:DescribeInstanceTypes", "describe", probe="instances"),
    Action("ec2:DescribeAddresses", "describe-eip", probe="addresses"),
    # AllowReassignment: no unassign needed for IPv4
    Action("ec2:AssignPrivateIpAddresses", "ipv4"),
    Action("ec2:AssignIpv6Addresses", "ipv6"),
    Action("ec2:UnassignIpv6Addresses", "ipv6"),
    Action("ec2:ReplaceRoute", "route"),
    # authorised on the elastic-ip AND on the network-interface it maps to (Service
    # Authorization Reference, Amazon EC2): both ARN lists, nothing account-wide
    Action("ec2:AssociateAddress", "eip"),
    Action("iam:GetRole", "self-check"),
    Action("iam:SimulatePrincipalPolicy", "self-check"),
    Action("sns:Publish", "sns"),
    Action("sns:GetTopicAttributes", "sns", probe="events"),  # doctor: the topic exists
    Action("events:PutEvents", "eventbridge"),
    Action("events:DescribeEventBus", "eventbridge", probe="events"),  # doctor: the bus exists
    # the lease: a consistent read, the first write, and every take, renewal and release
    Action("dynamodb:GetItem", "arbiter"),
    Action("dynamodb:PutItem", "arbiter"),
    Action("dynamodb:UpdateItem", "arbiter"),
    Action("dynamodb:DescribeTable", "arbiter-describe", probe="arbiter"),  # doctor: key schema
)


def names(*needs: Need) -> tuple[str, ...]:
    return tuple(a.name for a in ACTIONS if a.need in needs)


def probe_actions() -> dict[str, str]:
    """doctor's probe -> the actions it calls, as the fix line names them."""
    out: dict[str, list[str]] = {}
    for a in ACTIONS:
        if a.probe is not None:
            out.setdefault(a.probe, []).append(a.name)
    return {probe: ", ".join(acts) for probe, acts in out.items()}
