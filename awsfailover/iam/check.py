"""iam-policy and check-iam: the group's scope from the config, and the preflight that
evaluates it against the calling principal.

check-iam asks two independent questions, because each sees what the other cannot:
IAM SimulatePrincipalPolicy evaluates the principal's policies for every (action, resource)
the agent needs; EC2 DryRun exercises the real authorisation path (SCPs and session policies
included) where the action supports it (ReplaceRoute and the Describe calls; the address
actions have no DryRun).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TextIO

from awsfailover.aws.ec2 import Ec2, call_once, make_client
from awsfailover.aws.node import resolve_node
from awsfailover.config.schema import Settings
from awsfailover.core.deadline import Deadline
from awsfailover.core.plan import routes_in
from awsfailover.errors import AwsError, ConfigError, PermanentError
from awsfailover.failover.engine import Engine, build_engine
from awsfailover.iam.policy import (
    DESCRIBE_ACTIONS,
    EIP_DESCRIBE_ACTIONS,
    Requirement,
    Scope,
    requirements,
    statement,
)

log = logging.getLogger(__name__)

ALLOWED, DENIED, UNVERIFIED = "allowed", "DENIED", "unverified"


def table_routes(
    settings: Settings, engine: Engine | None
) -> tuple[dict[str, list[str]], list[str]]:
    """Route table -> the configured destinations in it, and the problems met. Tables named
    in the config need no AWS call; tables selected by subnet are found by the engine's own
    rule (engine None: not looked up, reported as a problem)."""
    out: dict[str, list[str]] = {}
    problems = []
    deadline = Deadline(settings.failover.deadline)
    for inst in settings.instances:
        if not inst.routes:
            continue
        if inst.route_tables is not None and (engine is None or not inst.auto_routes):
            # named tables: no AWS call (routes = "auto" without AWS: the tables alone)
            for t in inst.route_tables:
                have = out.setdefault(t, [])
                have.extend(d for d in inst.explicit_routes if d not in have)
            continue
        if engine is None:
            problems.append(f"instance {inst.name} selects its route tables by subnet")
            continue
        try:
            observed = engine.observe(inst.spec, deadline)
        except (PermanentError, ConfigError) as err:
            problems.append(f"instance {inst.name}: cannot discover its route tables: {err}")
            continue
        for t, table in observed.tables.items():
            have = out.setdefault(t, [])
            have.extend(
                d
                for d in routes_in(inst.spec, table, observed)
                if d in table.routes and d not in have
            )
    return out, problems


def group_scope(
    settings: Settings,
    *,
    region: str,
    account: str,
    route_tables: Iterable[str],
    extra_enis: Iterable[str] = (),
    tag: tuple[str, str] | None = None,
    role: str | None = None,
) -> Scope:
    enis = {*settings.group.enis, *extra_enis}
    enis.update(e for e in (settings.node.eni_id, *(i.eni_id for i in settings.instances)) if e)
    try:
        return Scope(
            region=region,
            account=account,
            enis=tuple(sorted(enis)),
            route_tables=tuple(sorted(set(route_tables))),
            ipv4=any(i.ipv4_vips for i in settings.instances),
            ipv6=any(i.ipv6_vips for i in settings.instances),
            tag=tag if tag is not None else settings.group.tag,
            role=role,
            eips=tuple(sorted({e.allocation_id for i in settings.instances for e in i.eips})),
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


# --- check-iam -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    action: str
    resource: str
    check: str  # "simulate" or "dry-run"
    result: str  # ALLOWED, DENIED, UNVERIFIED
    detail: str = ""


def caller_principal(sts: Any, iam: Any) -> tuple[str, str, str]:
    """(account, principal ARN to simulate, note). An assumed-role ARN drops the role's path,
    so the role ARN comes from iam:GetRole."""
    ident = call_once("GetCallerIdentity", "", sts.get_caller_identity)
    account, arn = str(ident["Account"]), str(ident["Arn"])
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[5].startswith("assumed-role/"):
        name = parts[5].split("/")[1]
        try:
            role = call_once("GetRole", name, lambda: iam.get_role(RoleName=name))
        except PermanentError as err:
            plain = f"arn:{parts[1]}:iam::{account}:role/{name}"
            return account, plain, f"iam:GetRole on {name} failed ({err.code}); assuming {plain}"
        return account, str(role["Role"]["Arn"]), f"caller {arn}"
    return account, arn, f"caller {arn}"


def _eni_contexts(ec2: Ec2, enis: list[str], deadline: Deadline) -> dict[str, list[dict[str, Any]]]:
    """ec2:ResourceTag/* context entries per ENI ARN suffix: the simulator does not read
    resource tags itself, and a tag-scoped policy is decided on them."""
    if not enis:
        return {}
    resp = ec2.call(
        "DescribeNetworkInterfaces",
        ",".join(enis),
        deadline,
        lambda: ec2.client.describe_network_interfaces(NetworkInterfaceIds=enis),
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for raw in resp["NetworkInterfaces"]:
        out[raw["NetworkInterfaceId"]] = [
            {
                "ContextKeyName": f"ec2:ResourceTag/{t['Key']}",
                "ContextKeyValues": [t["Value"]],
                "ContextKeyType": "string",
            }
            for t in raw.get("TagSet", [])
        ]
    return out


def simulate(
    iam: Any, principal: str, reqs: list[Requirement], contexts: dict[str, list[dict[str, Any]]]
) -> list[Row] | None:
    """One SimulatePrincipalPolicy call per resource (context entries apply to every resource
    of a call). None when the principal may not simulate."""
    by_resource: dict[str, list[str]] = {}
    for r in reqs:
        by_resource.setdefault(r.resource, []).append(r.action)
    rows = []
    for resource, actions in by_resource.items():
        kwargs: dict[str, Any] = {"PolicySourceArn": principal, "ActionNames": actions}
        if resource != "*":
            kwargs["ResourceArns"] = [resource]
        ctx = contexts.get(resource.rsplit("/", 1)[-1])
        if ctx:
            kwargs["ContextEntries"] = ctx
        try:
            resp = call_once(
                "SimulatePrincipalPolicy",
                principal,
                lambda kw=kwargs: iam.simulate_principal_policy(**kw),  # type: ignore[misc]
            )
        except PermanentError as err:
            if err.code in ("AccessDenied", "AccessDeniedException"):
                return None
            raise
        for res in resp["EvaluationResults"]:
            decision = res["EvalDecision"]
            rows.append(
                Row(
                    res["EvalActionName"],
                    resource,
                    "simulate",
                    ALLOWED if decision == "allowed" else DENIED,
                    "" if decision == "allowed" else decision,
                )
            )
    return rows


def _dry_run_result(fn: Any, operation: str, resource: str) -> tuple[str, str]:
    try:
        call_once(operation, resource, fn)
    except AwsError as err:
        if err.code == "DryRunOperation":
            return ALLOWED, ""
        if err.code in ("UnauthorizedOperation", "AccessDenied"):
            return DENIED, err.code
        return UNVERIFIED, f"{err.code}"
    return UNVERIFIED, "DryRun was not honoured"


def dry_runs(ec2: Ec2, scope: Scope, eni_id: str, tables: dict[str, list[str]]) -> list[Row]:
    c = ec2.client
    rows = []
    deadline = Deadline(10.0)
    describe: dict[str, Callable[[], object]] = {
        "ec2:DescribeNetworkInterfaces": lambda: c.describe_network_interfaces(
            NetworkInterfaceIds=[eni_id], DryRun=True
        ),
        "ec2:DescribeRouteTables": lambda: c.describe_route_tables(DryRun=True),
        "ec2:DescribeSubnets": lambda: c.describe_subnets(DryRun=True),
        "ec2:DescribeSecurityGroups": lambda: c.describe_security_groups(DryRun=True),
        "ec2:GetSubnetCidrReservations": lambda: c.get_subnet_cidr_reservations(
            SubnetId=ec2.describe_enis([eni_id], deadline)[eni_id].subnet_id, DryRun=True
        ),
        "ec2:DescribeInstances": lambda: c.describe_instances(DryRun=True),
        "ec2:DescribeInstanceTypes": lambda: c.describe_instance_types(DryRun=True),
    }
    if scope.eips:
        describe["ec2:DescribeAddresses"] = lambda: c.describe_addresses(DryRun=True)
    # one requirement list: check every one
    assert set(describe) == {*DESCRIBE_ACTIONS, *(EIP_DESCRIBE_ACTIONS if scope.eips else ())}
    for action, fn in describe.items():
        result, detail = _dry_run_result(fn, action.split(":")[1], "*")
        rows.append(Row(action, "*", "dry-run", result, detail))
    for rtb in sorted(scope.route_tables):
        dest = next(iter(tables.get(rtb, [])), None)
        arn = scope.route_table_arn(rtb)
        if dest is None:
            rows.append(Row("ec2:ReplaceRoute", arn, "dry-run", UNVERIFIED, "no configured route"))
            continue
        result, detail = _dry_run_result(
            partial(ec2.replace_route, rtb, dest, eni_id, deadline, dry_run=True),
            "ReplaceRoute",
            rtb,
        )
        rows.append(Row("ec2:ReplaceRoute", arn, "dry-run", result, detail))
    for alloc in sorted(scope.eips):
        # to the primary address of our ENI: DryRun asks for permission on the elastic-ip and
        # the network-interface, whatever the addresses' state
        result, detail = _dry_run_result(
            partial(
                ec2.client.associate_address,
                AllocationId=alloc,
                NetworkInterfaceId=eni_id,
                AllowReassociation=True,
                DryRun=True,
            ),
            "AssociateAddress",
            alloc,
        )
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
    node = resolve_node(settings)
    sts = make_client("sts", node.region)
    iam = make_client("iam", node.region)
    account, principal, note = caller_principal(sts, iam)
    if principal_override:
        principal, note = principal_override, f"{note}; simulating {principal_override}"
    print(f"principal: {principal} ({note})", file=out)
    engine = build_engine(settings)
    try:
        tables, problems = table_routes(settings, engine)
        for p in problems:
            print(p, file=out)
        scope = group_scope(settings, region=node.region, account=account, route_tables=tables)
        reqs = requirements(scope, self_check=False)
        try:
            contexts = _eni_contexts(engine.ec2, list(scope.enis), Deadline(10.0))
        except PermanentError as err:
            print(f"cannot read the ENIs' tags ({err.code}); simulating without them", file=out)
            contexts = {}
        rows = simulate(iam, principal, reqs, contexts)
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
        doc = [statement(sid, rs) for sid, rs in by_sid.items()]
        print("add to the principal's policy:", file=out)
        print(json.dumps(doc, indent=2), file=out)
    print(f"{len(bad)} of {len(rows)} checks not allowed", file=out)
    return 1


# --- iam-policy ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyArgs:
    enis: list[str]
    route_tables: list[str]
    account: str | None
    region: str | None
    tag: str | None
    role: str | None
    ipv6: bool
    eips: list[str] = field(default_factory=list)


def policy_scope(settings: Settings | None, args: PolicyArgs) -> Scope:
    """The scope from the config (when there is one) plus the command line."""
    tag = None
    if args.tag is not None:
        key, sep, value = args.tag.partition("=")
        if not sep or not key:
            raise ConfigError(f"--tag {args.tag!r} is not KEY=VALUE")
        tag = (key, value)
    if settings is None:
        if not args.region or not args.account:
            raise ConfigError("without a config file, --region and --account are required")
        try:
            return Scope(
                region=args.region,
                account=args.account,
                enis=tuple(sorted(set(args.enis))),
                route_tables=tuple(sorted(set(args.route_tables))),
                ipv4=bool(args.enis) or tag is not None,
                ipv6=args.ipv6,
                tag=tag,
                role=args.role,
                eips=tuple(sorted(set(args.eips))),
            )
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    region = args.region or settings.region
    account = args.account or settings.group.account_id
    if not region:
        raise ConfigError("no Region: set region in the config or pass --region")
    if not account:
        raise ConfigError("no account id: set group.account_id in the config or pass --account")
    engine = None
    if any(i.routes and i.route_tables is None for i in settings.instances):
        try:
            engine = build_engine(settings)
        except ConfigError as exc:
            raise ConfigError(
                f"some instance selects its route tables by subnet and they cannot be looked "
                f"up ({exc}); pass them with --route-table"
            ) from exc
    try:
        tables, problems = table_routes(settings, engine)
    finally:
        if engine is not None:
            engine.close()
    if problems:
        raise ConfigError("; ".join(problems) + "; pass the tables with --route-table")
    scope = group_scope(
        settings,
        region=region,
        account=account,
        route_tables={*tables, *args.route_tables},
        extra_enis=args.enis,
        tag=tag,
        role=args.role,
    )
    if args.ipv6 and not scope.ipv6:
        scope = Scope(**{**scope.__dict__, "ipv6": True})
    if args.eips:
        try:
            scope = Scope(**{**scope.__dict__, "eips": tuple(sorted({*scope.eips, *args.eips}))})
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    return scope
