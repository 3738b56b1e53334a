"""check-iam: the preflight that evaluates the group's IAM scope against the calling
principal.

It asks two independent questions, because each sees what the other cannot: IAM
SimulatePrincipalPolicy evaluates the principal's policies for every (action, resource) the
agent needs; EC2 DryRun exercises the real authorisation path (SCPs and session policies
included) where the action supports it (ReplaceRoute, AssociateAddress and the Describe calls;
the address moves have no DryRun).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TextIO

from awsfailover import defaults
from awsfailover.aws.ec2 import Ec2
from awsfailover.aws.iam import Iam
from awsfailover.aws.node import NodeFacts
from awsfailover.config.schema import Settings
from awsfailover.core.deadline import Deadline
from awsfailover.errors import AwsError, PermanentError
from awsfailover.failover.engine import build_engine
from awsfailover.iam.policy import (
    DESCRIBE_ACTIONS,
    EIP_DESCRIBE_ACTIONS,
    SID_LEASES,
    Requirement,
    Scope,
    lease_statement,
    requirements,
    statement,
)
from awsfailover.iam.scope import group_scope, table_routes

__all__ = ["check_iam"]

ALLOWED, DENIED, UNVERIFIED = "allowed", "DENIED", "unverified"


@dataclass(frozen=True)
class Row:
    action: str
    resource: str
    check: str  # "simulate" or "dry-run"
    result: str  # ALLOWED, DENIED, UNVERIFIED
    detail: str = ""


def caller_principal(iam: Iam) -> tuple[str, str, str]:
    """(account, principal ARN to simulate, note). An assumed-role ARN drops the role's path,
    so the role ARN comes from iam:GetRole."""
    account, arn = iam.caller()
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[5].startswith("assumed-role/"):
        name = parts[5].split("/")[1]
        try:
            role = iam.role_arn(name)
        except PermanentError as err:
            plain = f"arn:{parts[1]}:iam::{account}:role/{name}"
            return account, plain, f"iam:GetRole on {name} failed ({err.code}); assuming {plain}"
        return account, role, f"caller {arn}"
    return account, arn, f"caller {arn}"


def simulate(
    iam: Iam, principal: str, reqs: list[Requirement], tags: dict[str, dict[str, str]]
) -> list[Row] | None:
    """One SimulatePrincipalPolicy call per resource (context entries apply to every resource
    of a call). None when the principal may not simulate."""
    by_resource: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    for r in reqs:
        by_resource.setdefault((r.resource, r.context), []).append(r.action)
    rows = []
    for (resource, context), actions in by_resource.items():
        try:
            decisions = iam.simulate(
                principal, actions, resource, tags.get(resource.rsplit("/", 1)[-1]), dict(context)
            )
        except PermanentError as err:
            if err.code in ("AccessDenied", "AccessDeniedException"):
                return None
            raise
        rows += [
            Row(
                action,
                resource,
                "simulate",
                ALLOWED if decision == "allowed" else DENIED,
                "" if decision == "allowed" else decision,
            )
            for action, decision in decisions
        ]
    return rows


def _dry_run_result(fn: Callable[[], object]) -> tuple[str, str]:
    try:
        fn()
    except AwsError as err:
        if err.code == "DryRunOperation":
            return ALLOWED, ""
        if err.code in ("UnauthorizedOperation", "AccessDenied"):
            return DENIED, err.code
        return UNVERIFIED, f"{err.code}"
    return UNVERIFIED, "DryRun was not honoured"


def dry_runs(ec2: Ec2, scope: Scope, eni_id: str, tables: dict[str, list[str]]) -> list[Row]:
    rows = []
    deadline = Deadline(defaults.CHECK_IAM_DEADLINE)

    def subnet() -> str:
        return ec2.describe_enis([eni_id], deadline)[eni_id].subnet_id

    # every read-only requirement, as iam-policy lists it
    for action in (*DESCRIBE_ACTIONS, *(EIP_DESCRIBE_ACTIONS if scope.eips else ())):
        result, detail = _dry_run_result(partial(ec2.dry_run, action, eni_id, subnet))
        rows.append(Row(action, "*", "dry-run", result, detail))
    for rtb in sorted(scope.route_tables):
        dest = next(iter(tables.get(rtb, [])), None)
        arn = scope.route_table_arn(rtb)
        if dest is None:
            rows.append(Row("ec2:ReplaceRoute", arn, "dry-run", UNVERIFIED, "no configured route"))
            continue
        result, detail = _dry_run_result(
            partial(ec2.replace_route, rtb, dest, eni_id, deadline, dry_run=True)
        )
        rows.append(Row("ec2:ReplaceRoute", arn, "dry-run", result, detail))
    for alloc in sorted(scope.eips):
        result, detail = _dry_run_result(partial(ec2.associate_dry_run, alloc, eni_id))
        rows.append(Row("ec2:AssociateAddress", scope.eip_arn(alloc), "dry-run", result, detail))
    return rows


def print_table(rows: list[Row], out: TextIO) -> None:
    headers = ("ACTION", "RESOURCE", "CHECK", "RESULT")
    cells = [
        (r.action, r.resource, r.check, r.result + (f" ({r.detail})" if r.detail else ""))
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    for line in (headers, *cells):
        print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip(), file=out)


def check_iam(settings: Settings, principal_override: str | None, out: TextIO = sys.stdout) -> int:
    facts = NodeFacts(settings)  # one metadata session for the whole command
    node = facts.node()
    iam = Iam(node.region)
    account, principal, note = caller_principal(iam)
    if principal_override:
        principal, note = principal_override, f"{note}; simulating {principal_override}"
    print(f"principal: {principal} ({note})", file=out)
    engine = build_engine(settings, facts=facts)
    try:
        tables, problems = table_routes(settings, engine)
        for p in problems:
            print(p, file=out)
        scope = group_scope(settings, region=node.region, account=account, route_tables=tables)
        reqs = requirements(scope, self_check=False)
        try:
            tags = engine.ec2.eni_tags(list(scope.enis), Deadline(defaults.CHECK_IAM_DEADLINE))
        except PermanentError as err:
            print(f"cannot read the ENIs' tags ({err.code}); simulating without them", file=out)
            tags = {}
        rows = simulate(iam, principal, reqs, tags)
        if rows is None:
            print(
                f"{principal} may not call iam:SimulatePrincipalPolicy: falling back to the "
                "DryRun checks. The address actions have no DryRun and stay unverified; grant "
                "the PreflightSelfCheck statement (awsfailover iam-policy --role ...) or run "
                "check-iam --principal-arn ROLE_ARN with credentials that may simulate.",
                file=out,
            )
            rows = [
                Row(r.action, r.resource, "simulate", UNVERIFIED, "no simulate permission")
                for r in reqs
                if not (
                    r.action in (*DESCRIBE_ACTIONS, *EIP_DESCRIBE_ACTIONS)
                    or r.action in ("ec2:ReplaceRoute", "ec2:AssociateAddress")
                )
            ]
        rows += dry_runs(engine.ec2, scope, node.eni_id, tables)
    finally:
        engine.close()
    print_table(rows, out)
    bad = [r for r in rows if r.result != ALLOWED]
    if not bad:
        print(f"all {len(rows)} checks allowed", file=out)
        return 0
    denied = {(r.action, r.resource) for r in bad if r.result == DENIED}
    missing = [r for r in reqs if (r.action, r.resource) in denied]
    if missing:
        by_sid: dict[str, list[Requirement]] = {}
        for r in missing:
            by_sid.setdefault(r.sid, []).append(r)
        doc = [
            lease_statement(scope, rs) if sid == SID_LEASES else statement(sid, rs)
            for sid, rs in by_sid.items()
        ]
        print("add to the principal's policy:", file=out)
        print(json.dumps(doc, indent=2), file=out)
    print(f"{len(bad)} of {len(rows)} checks not allowed", file=out)
    return 1
