"""The IAM and STS calls of check-iam: who we are, and what IAM's policy simulator decides
for that principal. One attempt each through botocore's standard retries (nothing here races a
deadline), errors classified like every other call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from awsfailover.aws.clients import call_once, make_client

__all__ = ["Iam"]


class Iam:
    def __init__(self, region: str, sts: Any = None, iam: Any = None) -> None:
        # With no client given, botocore's own endpoint settings apply (AWS_ENDPOINT_URL_IAM,
        # AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL).
        self.sts = sts if sts is not None else make_client("sts", region)
        self.iam = iam if iam is not None else make_client("iam", region)

    def caller(self) -> tuple[str, str]:
        """(account, ARN) of the caller."""
        ident = call_once("GetCallerIdentity", "", self.sts.get_caller_identity)
        return str(ident["Account"]), str(ident["Arn"])

    def role_arn(self, name: str) -> str:
        role = call_once("GetRole", name, lambda: self.iam.get_role(RoleName=name))
        return str(role["Role"]["Arn"])

    def simulate(
        self,
        principal: str,
        actions: list[str],
        resource: str,
        tags: Mapping[str, str] | None = None,
        context: Mapping[str, str] | None = None,
    ) -> list[tuple[str, str]]:
        """(action, decision) for each action on resource ("*" for none). tags: the resource's
        tags, which the simulator does not read itself and a tag-scoped policy decides on;
        context: other keys the request carries (dynamodb:LeadingKeys, a multi-valued key)."""
        kwargs: dict[str, Any] = {"PolicySourceArn": principal, "ActionNames": actions}
        if resource != "*":
            kwargs["ResourceArns"] = [resource]
        if tags:
            kwargs["ContextEntries"] = [
                {
                    "ContextKeyName": f"ec2:ResourceTag/{k}",
                    "ContextKeyValues": [v],
                    "ContextKeyType": "string",
                }
                for k, v in tags.items()
            ]
        if context:
            kwargs.setdefault("ContextEntries", []).extend(
                {"ContextKeyName": k, "ContextKeyValues": [v], "ContextKeyType": "stringList"}
                for k, v in context.items()
            )
        resp = call_once(
            "SimulatePrincipalPolicy",
            principal,
            lambda: self.iam.simulate_principal_policy(**kwargs),
        )
        return [
            (str(r["EvalActionName"]), str(r["EvalDecision"])) for r in resp["EvaluationResults"]
        ]
