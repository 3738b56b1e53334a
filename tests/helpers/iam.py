"""A node's credentials as an IAM role with a given policy, made inside the local endpoint."""

from __future__ import annotations

from typing import Any

import boto3

from awsfailover.sim.world import REGION

__all__ = ["role_env"]


def role_env(url: str, policy: str, name: str = "awsfailover") -> dict[str, str]:
    """Create /appliance/NAME with the policy inline, assume it: the node's credentials."""
    kw: dict[str, Any] = {"endpoint_url": url, "region_name": REGION}
    iam, sts = boto3.client("iam", **kw), boto3.client("sts", **kw)
    arn = iam.create_role(RoleName=name, Path="/appliance/", AssumeRolePolicyDocument="{}")["Role"][
        "Arn"
    ]
    iam.put_role_policy(RoleName=name, PolicyName="awsfailover", PolicyDocument=policy)
    creds = sts.assume_role(RoleArn=arn, RoleSessionName="i-0123456789abcdef0")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_ENDPOINT_URL_IAM": url,
        "AWS_ENDPOINT_URL_STS": url,
    }
