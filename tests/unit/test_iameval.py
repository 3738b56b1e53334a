"""The local endpoint's IAM evaluator against hand-checked cases (AWS's evaluation logic)."""

from __future__ import annotations

import pytest

from awsfailover.sim.iameval import Policy, PolicyNotSupported, evaluate

ENI = "arn:aws:ec2:eu-north-1:111122223333:network-interface/eni-0123456789abcdef0"
RTB = "arn:aws:ec2:eu-north-1:111122223333:route-table/rtb-0123456789abcdef0"


def pol(*statements: dict) -> list[Policy]:
    return [Policy.parse("p", {"Version": "2012-10-17", "Statement": list(statements)})]


def allow(action, resource, **extra):  # type: ignore[no-untyped-def]
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.mark.parametrize(
    ("statements", "action", "resource", "context", "expected"),
    [
        # nothing matches: implicit deny
        ([], "ec2:ReplaceRoute", RTB, {}, "implicitDeny"),
        ([allow("ec2:ReplaceRoute", RTB)], "ec2:ReplaceRoute", RTB, {}, "allowed"),
        # action names are case-insensitive, resources are not
        ([allow("EC2:replaceroute", RTB)], "ec2:ReplaceRoute", RTB, {}, "allowed"),
        ([allow("ec2:ReplaceRoute", RTB.upper())], "ec2:ReplaceRoute", RTB, {}, "implicitDeny"),
        # wildcards
        ([allow("ec2:Describe*", "*")], "ec2:DescribeSubnets", "*", {}, "allowed"),
        ([allow("ec2:Describe*", "*")], "ec2:ReplaceRoute", RTB, {}, "implicitDeny"),
        ([allow("ec2:Replace?oute", RTB)], "ec2:ReplaceRoute", RTB, {}, "allowed"),
        ([allow("ec2:ReplaceRoute", RTB[:-3] + "*")], "ec2:ReplaceRoute", RTB, {}, "allowed"),
        # a resource-scoped grant does not cover a "*" request (Describe needs Resource "*")
        ([allow("ec2:DescribeSubnets", RTB)], "ec2:DescribeSubnets", "*", {}, "implicitDeny"),
        # another resource
        ([allow("ec2:ReplaceRoute", RTB)], "ec2:ReplaceRoute", RTB[:-1] + "1", {}, "implicitDeny"),
        # explicit deny beats allow, in any order
        (
            [
                allow("ec2:*", "*"),
                {"Effect": "Deny", "Action": "ec2:ReplaceRoute", "Resource": RTB},
            ],
            "ec2:ReplaceRoute",
            RTB,
            {},
            "explicitDeny",
        ),
        # NotAction / NotResource
        (
            [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}],
            "ec2:ReplaceRoute",
            RTB,
            {},
            "allowed",
        ),
        (
            [{"Effect": "Allow", "Action": "ec2:*", "NotResource": RTB}],
            "ec2:ReplaceRoute",
            RTB,
            {},
            "implicitDeny",
        ),
        # tag condition: equal, different, missing
        (
            [
                allow(
                    "ec2:AssignPrivateIpAddresses",
                    ENI,
                    Condition={"StringEquals": {"ec2:ResourceTag/grp": "a"}},
                )
            ],
            "ec2:AssignPrivateIpAddresses",
            ENI,
            {"ec2:ResourceTag/grp": "a"},
            "allowed",
        ),
        (
            [
                allow(
                    "ec2:AssignPrivateIpAddresses",
                    ENI,
                    Condition={"StringEquals": {"ec2:ResourceTag/grp": "a"}},
                )
            ],
            "ec2:AssignPrivateIpAddresses",
            ENI,
            {"ec2:ResourceTag/grp": "b"},
            "implicitDeny",
        ),
        (
            [
                allow(
                    "ec2:AssignPrivateIpAddresses",
                    ENI,
                    Condition={"StringEquals": {"ec2:ResourceTag/grp": "a"}},
                )
            ],
            "ec2:AssignPrivateIpAddresses",
            ENI,
            {},
            "implicitDeny",
        ),
        # condition keys are case-insensitive, values are not
        (
            [
                allow(
                    "ec2:AssignPrivateIpAddresses",
                    ENI,
                    Condition={"StringEquals": {"EC2:resourcetag/GRP": "a"}},
                )
            ],
            "ec2:AssignPrivateIpAddresses",
            ENI,
            {"ec2:ResourceTag/grp": "A"},
            "implicitDeny",
        ),
        # negated operator with the key missing is satisfied (AWS semantics)
        (
            [allow("ec2:*", "*", Condition={"StringNotEquals": {"ec2:ResourceTag/grp": "x"}})],
            "ec2:ReplaceRoute",
            RTB,
            {},
            "allowed",
        ),
        # ...IfExists with the key missing is satisfied
        (
            [allow("ec2:*", "*", Condition={"StringEqualsIfExists": {"ec2:ResourceTag/grp": "x"}})],
            "ec2:ReplaceRoute",
            RTB,
            {},
            "allowed",
        ),
        (
            [allow("ec2:*", "*", Condition={"StringLike": {"ec2:ResourceTag/grp": "edge-*"}})],
            "ec2:ReplaceRoute",
            RTB,
            {"ec2:ResourceTag/grp": "edge-7"},
            "allowed",
        ),
        (
            [
                allow(
                    "iam:GetRole",
                    "arn:aws:iam::111122223333:role/*",
                    Condition={"ArnLike": {"aws:SourceArn": "arn:aws:ec2:*:111122223333:*"}},
                )
            ],
            "iam:GetRole",
            "arn:aws:iam::111122223333:role/appliance/fo",
            {"aws:SourceArn": "arn:aws:ec2:eu-north-1:111122223333:instance/i-1"},
            "allowed",
        ),
    ],
)
def test_decisions(statements, action, resource, context, expected):  # type: ignore[no-untyped-def]
    assert evaluate(pol(*statements), action, resource, context).decision == expected


def test_boundary_must_allow_too() -> None:
    boundary = Policy.parse("b", {"Statement": [allow("ec2:Describe*", "*")]})
    policies = pol(allow("ec2:*", "*"))
    assert evaluate(policies, "ec2:DescribeSubnets", "*", boundary=boundary).allowed
    assert not evaluate(policies, "ec2:ReplaceRoute", RTB, boundary=boundary).allowed


def test_matched_statements_are_named() -> None:
    d = evaluate(pol(allow("ec2:ReplaceRoute", RTB) | {"Sid": "Routes"}), "ec2:ReplaceRoute", RTB)
    assert d.matched == [("p", "Routes")]


@pytest.mark.parametrize(
    "statement",
    [
        allow("ec2:*", "*", Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
        allow("ec2:*", "*", Condition={"ForEachValue:StringEquals": {"aws:TagKeys": "x"}}),
        {"Effect": "Allow", "Action": "ec2:*", "Resource": "*", "Principal": "*"},
        {"Effect": "Maybe", "Action": "ec2:*", "Resource": "*"},
        {"Effect": "Allow", "Resource": "*"},
    ],
)
def test_unknown_features_are_refused_not_guessed(statement: dict) -> None:
    with pytest.raises(PolicyNotSupported):
        evaluate(pol(statement), "ec2:ReplaceRoute", RTB, {})


TABLE = "arn:aws:dynamodb:eu-north-1:123456789012:table/leases"
LEASES = allow(
    ["dynamodb:GetItem", "dynamodb:UpdateItem"],
    TABLE,
    Condition={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["edge/*"]}},
)


@pytest.mark.parametrize(
    ("key", "allowed"),
    [("edge/VI_1", True), ("edge-2/VI_1", False), ("other/VI_1", False), ("EDGE/VI_1", False)],
)
def test_leading_keys_hold_a_role_to_its_groups_leases(key: str, allowed: bool) -> None:
    ctx = {"dynamodb:LeadingKeys": key}
    assert evaluate(pol(LEASES), "dynamodb:UpdateItem", TABLE, ctx).allowed is allowed


def test_for_all_values_of_a_missing_key_holds_and_for_any_value_does_not() -> None:
    """AWS's documented pitfall, kept: no values at all satisfy ForAllValues."""
    assert evaluate(pol(LEASES), "dynamodb:GetItem", TABLE, {}).allowed
    any_value = allow(
        "dynamodb:GetItem",
        TABLE,
        Condition={"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["edge/*"]}},
    )
    assert not evaluate(pol(any_value), "dynamodb:GetItem", TABLE, {}).allowed
    ctx = {"dynamodb:LeadingKeys": "edge/VI_1"}
    assert evaluate(pol(any_value), "dynamodb:GetItem", TABLE, ctx).allowed
