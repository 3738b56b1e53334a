"""What doctor judges (Facts, as its probes found them) and what it prints (Line)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from awsfailover.core.model import AddressLimit, EipState, RouteTable

__all__ = ["FAIL", "IMDS_FIX", "PASS", "WARN", "Facts", "Line"]

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


@dataclass(frozen=True)
class Line:
    status: str
    check: str
    message: str
    fix: str = ""


@dataclass
class Facts:
    """Everything the checks judge, as EC2 returned it."""

    own_eni: str
    enis: dict[str, Any]  # ENI id -> DescribeNetworkInterfaces entry
    subnets: dict[str, Any]  # subnet id -> DescribeSubnets entry
    tables: dict[str, dict[str, RouteTable]]  # instance -> selected tables
    table_errors: dict[str, str]  # instance -> why its tables could not be selected
    security_groups: dict[str, Any]  # group id -> DescribeSecurityGroups entry
    reservations: dict[str, list[str]]  # subnet id -> explicit reservation CIDRs
    ip_limits: dict[str, AddressLimit]  # ENI -> what its instance type allows per ENI
    imds: str | None  # None when reachable, else the error
    imds_needed: bool
    agent_health: str | None  # None when healthy, "" when not expected, else the error
    missing_enis: list[str] = field(default_factory=list)
    instance_enis: dict[str, str] = field(default_factory=dict)  # instance -> its ENI here
    addresses: dict[str, EipState] = field(default_factory=dict)  # allocation id -> its state
    # [events] target (sns, eventbridge) -> None when it exists, else why not
    event_targets: dict[str, str | None] = field(default_factory=dict)
    # [arbiter] table: what is wrong with it (empty: nothing), None without [arbiter]
    arbiter_table: list[str] | None = None
    # probe -> why it could not look (a denied action): fails the checks that need it only
    failed_probes: dict[str, str] = field(default_factory=dict)


IMDS_FIX = (
    "aws ec2 modify-instance-metadata-options --instance-id ID --http-tokens required "
    "--http-put-response-hop-limit 2 (2 when the hook runs in a container); or set region "
    "and node.eni_id in the config"
)
