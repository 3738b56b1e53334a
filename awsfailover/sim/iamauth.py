"""IAM in the local endpoint: SimulatePrincipalPolicy, and enforcement for assumed roles.

moto serves IAM and STS but evaluates no policy: SimulatePrincipalPolicy is not implemented
and every signed request is allowed. Here:
- `iam:SimulatePrincipalPolicy` evaluates a role's inline and attached policies (and its
  permissions boundary) with `iameval`.
- Requests signed with credentials from `sts:AssumeRole` are authorised the way AWS does it:
  EC2 answers UnauthorizedOperation (also for DryRun), IAM answers AccessDenied, DynamoDB
  AccessDeniedException (on the table's ARN, with dynamodb:LeadingKeys on item requests). Other
  credentials (the tests' and Terraform's static keys) stay all-powerful, as an account's
  administrator would be, so fixtures can build the world.
"""

from __future__ import annotations

import io
import json
import re
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

from awsfailover.iam.policy import partition_of
from awsfailover.sim.faults import Environ, StartResponse
from awsfailover.sim.iameval import Decision, Policy, PolicyNotSupported, evaluate

_CRED_RE = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")

# The EC2 actions whose resource-level permissions awsfailover relies on. Every other EC2
# action is authorised against "*", as Describe* are on AWS. An action on several resources
# must be allowed on each (AssociateAddress: the elastic-ip and the network-interface, "Actions,
# resources, and condition keys for Amazon EC2", Service Authorization Reference).
_ENI = (("network-interface", "NetworkInterfaceId"),)
_RTB = (("route-table", "RouteTableId"),)
_EC2_RESOURCE = {
    "AssignPrivateIpAddresses": _ENI,
    "UnassignPrivateIpAddresses": _ENI,
    "AssignIpv6Addresses": _ENI,
    "UnassignIpv6Addresses": _ENI,
    "ModifyNetworkInterfaceAttribute": _ENI,
    "ReplaceRoute": _RTB,
    "CreateRoute": _RTB,
    "DeleteRoute": _RTB,
    "AssociateAddress": (("elastic-ip", "AllocationId"), *_ENI),
}

_EC2_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>"
)
_IAM_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>'
    "<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{rid}</RequestId>"
    "</ErrorResponse>"
)


def _assumed_role(access_key: str) -> Any:
    from moto.sts.models import sts_backends

    for account in list(sts_backends.values()):
        for backend in list(account.values()):
            found = backend.get_assumed_role_from_access_key(access_key)
            if found is not None:
                return found
    return None


def _iam_backend(account_id: str, partition: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id][partition]


def role_for_arn(arn: str) -> Any:
    """The moto Role of a role ARN (path included or not); None when it does not exist."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("role/"):
        return None
    backend = _iam_backend(parts[4], parts[1])
    name = parts[5].rsplit("/", 1)[-1]
    try:
        role = backend.get_role(name)
    except Exception:
        return None
    return role if role.arn == arn or arn.endswith(f":role/{name}") else None


def role_policies(role: Any) -> tuple[list[Policy], Policy | None]:
    policies = [Policy.parse(f"{role.name}/{n}", doc) for n, doc in role.policies.items()]
    for arn, managed in role.managed_policies.items():
        policies.append(Policy.parse(arn, _default_document(managed)))
    boundary = None
    if getattr(role, "permissions_boundary", None):
        backend = _iam_backend(role.account_id, role.arn.split(":")[1])
        boundary = Policy.parse(
            role.permissions_boundary,
            _default_document(backend.get_policy(role.permissions_boundary)),
        )
    return policies, boundary


def _default_document(managed: Any) -> str:
    doc = next(v.document for v in managed.versions if v.is_default)
    return urllib.parse.unquote(doc) if doc.startswith("%7B") else str(doc)


def simulate_principal_policy(self: Any) -> Any:
    """moto IamResponse method: one EvaluationResult per action (and per resource given)."""
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import NoSuchEntity

    source = self._get_param("PolicySourceArn")
    actions = self._get_param("ActionNames", [])
    resources = self._get_param("ResourceArns", []) or ["*"]
    context = {}
    for entry in self._get_param("ContextEntries", []):
        values = entry.get("ContextKeyValues") or [""]
        context[entry["ContextKeyName"]] = values[0]
    role = role_for_arn(source)
    if role is None:
        raise NoSuchEntity(f"PolicySourceArn {source} is not a role in this account")
    policies, boundary = role_policies(role)
    results = []
    for action in actions:
        for resource in resources:
            d = evaluate(policies, action, resource, context, boundary)
            results.append(
                {
                    "EvalActionName": action,
                    "EvalResourceName": resource,
                    "EvalDecision": d.decision,
                    "MatchedStatements": [
                        {"SourcePolicyId": pid, "SourcePolicyType": "IAM Policy"}
                        for pid, _sid in d.matched
                    ],
                    "MissingContextValues": d.missing_context,
                }
            )
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def install() -> None:
    from moto.iam.responses import IamResponse

    IamResponse.simulate_principal_policy = simulate_principal_policy  # type: ignore[attr-defined]


class IamEnforcer:
    """WSGI middleware: authorise requests made with assumed-role credentials."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        m = _CRED_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if m and m.group(3) == "dynamodb":
            return self._dynamodb(environ, start_response, m.group(1), m.group(2))
        if not m or m.group(3) not in ("ec2", "iam"):
            return self._pass(environ, start_response)
        access_key, region, service = m.groups()
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        params = {
            k: v[0] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()
        }
        action = params.get("Action", "Unknown")
        assumed = _assumed_role(access_key)
        if assumed is not None:
            denied = self.authorise(assumed, service, region, action, params)
            if denied is not None:
                return _respond(start_response, "403 Forbidden", denied)
        # AWS answers DryRun on every Describe and Get (GetSubnetCidrReservations has the
        # DryRun parameter in botocore's model); moto ignores it on some (DescribeRouteTables).
        if service == "ec2" and action.startswith(("Describe", "Get")) and _dry(params):
            return _respond(
                start_response,
                "412 Precondition Failed",
                _EC2_ERROR.format(
                    code="DryRunOperation",
                    message="Request would have succeeded, but DryRun flag is set.",
                    rid=_rid(),
                ),
            )
        return self._pass(environ, start_response)

    def authorise(
        self, assumed: Any, service: str, region: str, action: str, params: dict[str, str]
    ) -> str | None:
        """None when allowed, else the error body AWS would send."""
        if service == "ec2":
            targets = _ec2_targets(assumed.account_id, region, action, params)
        else:
            targets = [(_iam_target(assumed.account_id, region, action, params), {})]
        for resource, context in targets:
            decision = self.decide(assumed, f"{service}:{action}", resource, context)
            if not decision.allowed:
                break
        else:
            return None
        message = (
            f"User: {assumed.arn} is not authorized to perform: {service}:{action} on "
            f"resource: {resource} because "
            + (
                "an explicit deny in an identity-based policy"
                if decision.decision != "implicitDeny"
                else "no identity-based policy allows the action"
            )
        )
        if service == "ec2":
            return _EC2_ERROR.format(code="UnauthorizedOperation", message=message, rid=_rid())
        return _IAM_ERROR.format(code="AccessDenied", message=message, rid=_rid())

    def _dynamodb(
        self, environ: Environ, start_response: StartResponse, access_key: str, region: str
    ) -> Iterable[bytes]:
        """DynamoDB as AWS authorises an assumed role: the action on the table's ARN, with
        dynamodb:LeadingKeys (the item's partition key) on the item actions."""
        assumed = _assumed_role(access_key)
        if assumed is None:
            return self._pass(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        action = str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2]
        doc = json.loads(body or b"{}")
        table = str(doc.get("TableName", ""))
        arn = f"arn:{partition_of(region)}:dynamodb:{region}:{assumed.account_id}:table/{table}"
        context = _leading_key(assumed.account_id, region, table, doc)
        decision = self.decide(assumed, f"dynamodb:{action}", arn, context)
        if decision.allowed:
            return self._pass(environ, start_response)
        out = json.dumps(
            {
                "__type": "com.amazon.coral.service#AccessDeniedException",
                "message": f"User: {assumed.arn} is not authorized to perform: "
                f"dynamodb:{action} on resource: {arn}",
            }
        ).encode()
        start_response(
            "400 Bad Request",
            [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(out)))],
        )
        return [out]

    def _pass(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        out: Iterable[bytes] = self.app(environ, start_response)
        return out

    @staticmethod
    def decide(assumed: Any, action: str, resource: str, context: dict[str, str]) -> Decision:
        role = role_for_arn(assumed.role_arn)
        if role is None:
            return Decision("implicitDeny")
        policies, boundary = role_policies(role)
        try:
            return evaluate(policies, action, resource, context, boundary)
        except PolicyNotSupported:
            return Decision("implicitDeny")  # never allow what the double cannot evaluate


def _dry(params: dict[str, str]) -> bool:
    return params.get("DryRun", "").lower() == "true"


def _respond(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))])
    return [data]


def _rid() -> str:
    return f"sim-{time.monotonic_ns():x}"


def _ec2_targets(
    account: str, region: str, action: str, params: dict[str, str]
) -> list[tuple[str, dict[str, str]]]:
    from moto.ec2.models import ec2_backends

    out: list[tuple[str, dict[str, str]]] = []
    for rtype, param in _EC2_RESOURCE.get(action, ()):
        rid = params.get(param, "")
        arn = f"arn:{partition_of(region)}:ec2:{region}:{account}:{rtype}/{rid}"
        tags = ec2_backends[account][region].tags.get(rid, {})
        out.append((arn, {f"ec2:ResourceTag/{k}": v for k, v in tags.items()}))
    return out or [("*", {})]


def _leading_key(account: str, region: str, table: str, doc: dict[str, Any]) -> dict[str, str]:
    """dynamodb:LeadingKeys of an item request: the value of the table's partition key."""
    item = doc.get("Key") or doc.get("Item")
    if not isinstance(item, dict):
        return {}
    from moto.dynamodb.models import dynamodb_backends

    try:
        names = dynamodb_backends[account][region].get_table(table).hash_key_names
    except Exception:  # no such table: moto answers that itself
        return {}
    value = item.get(names[0]) if names else None
    if isinstance(value, dict) and len(value) == 1:
        return {"dynamodb:LeadingKeys": str(next(iter(value.values())))}
    return {}


def _iam_target(account: str, region: str, action: str, params: dict[str, str]) -> str:
    if action == "SimulatePrincipalPolicy":
        return params.get("PolicySourceArn", "*")
    if action in ("GetRole", "ListRolePolicies", "ListAttachedRolePolicies", "GetRolePolicy"):
        name = params.get("RoleName", "")
        try:
            return str(_iam_backend(account, partition_of(region)).get_role(name).arn)
        except Exception:
            return f"arn:{partition_of(region)}:iam::{account}:role/{name}"
    return "*"
