"""IAM identity-policy evaluation for the local endpoint (moto has none).

A test double: it implements what awsfailover's policies use and refuses what it does not
know, so a policy can never pass here by falling through an unimplemented branch.
Semantics follow the IAM policy evaluation logic for identity-based policies in one account:
an explicit Deny wins; otherwise any Allow allows; otherwise the request is implicitly denied.
A permissions boundary, when given, must allow too.

Supported: Effect Allow/Deny; Action/NotAction with `*` and `?` (case-insensitive);
Resource/NotResource with `*` and `?` (case-sensitive); condition operators StringEquals,
StringNotEquals, StringEqualsIgnoreCase, StringLike, StringNotLike, ArnEquals, ArnLike,
ArnNotEquals, ArnNotLike, Bool, each optionally with IfExists, and the set qualifiers
ForAllValues: (true when the key is missing, as on AWS) and ForAnyValue: on the one value a
request carries; condition keys are case-insensitive, values case-sensitive (except
*IgnoreCase). Anything else raises PolicyNotSupported.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ALLOWED = "allowed"
EXPLICIT_DENY = "explicitDeny"
IMPLICIT_DENY = "implicitDeny"


class PolicyNotSupported(ValueError):
    """The policy uses a feature this double does not evaluate (never guessed at)."""


@dataclass(frozen=True)
class Policy:
    policy_id: str
    document: Mapping[str, Any]

    @classmethod
    def parse(cls, policy_id: str, raw: str | Mapping[str, Any]) -> Policy:
        doc = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(doc, Mapping) or "Statement" not in doc:
            raise PolicyNotSupported(f"{policy_id}: not a policy document")
        return cls(policy_id, doc)

    def statements(self) -> list[Mapping[str, Any]]:
        st = self.document["Statement"]
        return [st] if isinstance(st, Mapping) else list(st)


@dataclass
class Decision:
    decision: str
    matched: list[tuple[str, str]] = field(default_factory=list)  # (policy id, Sid)
    missing_context: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED


def _as_list(v: Any) -> list[str]:
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return v
    raise PolicyNotSupported(f"expected a string or a list of strings, got {v!r}")


def _wild(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{rx}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _matches_any(patterns: list[str], value: str, *, ignore_case: bool) -> bool:
    return any(_wild(p, ignore_case=ignore_case).match(value) for p in patterns)


def _arn_like(pattern: str, arn: str) -> bool:
    # ArnLike compares the six colon-separated parts one by one.
    p_parts, a_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(p_parts) != 6 or len(a_parts) != 6:
        return False
    return all(_wild(p, ignore_case=False).match(a) for p, a in zip(p_parts, a_parts, strict=True))


def _op_matches(op: str, wanted: list[str], actual: str) -> bool:
    if op == "StringEquals":
        return actual in wanted
    if op == "StringEqualsIgnoreCase":
        return actual.lower() in {w.lower() for w in wanted}
    if op == "StringLike":
        return _matches_any(wanted, actual, ignore_case=False)
    if op in ("ArnEquals", "ArnLike"):
        return any(_arn_like(w, actual) for w in wanted)
    if op == "Bool":
        return actual.lower() in {w.lower() for w in wanted}
    raise PolicyNotSupported(f"condition operator {op!r}")


_OPERATORS = frozenset(
    {"StringEquals", "StringEqualsIgnoreCase", "StringLike", "ArnEquals", "ArnLike", "Bool"}
)
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(
    condition: Mapping[str, Any], context: Mapping[str, str], missing: list[str]
) -> bool:
    ctx = {k.lower(): v for k, v in context.items()}
    for qualified, pairs in condition.items():
        qualifier, _, raw_op = qualified.rpartition(":")
        if qualifier not in ("", "ForAllValues", "ForAnyValue"):
            raise PolicyNotSupported(f"condition set operator {qualifier!r}")
        op, if_exists = (raw_op[:-8], True) if raw_op.endswith("IfExists") else (raw_op, False)
        if op not in _OPERATORS and op not in _NEGATED:
            raise PolicyNotSupported(f"condition operator {raw_op!r}")
        if not isinstance(pairs, Mapping):
            raise PolicyNotSupported(f"condition {raw_op!r} must map keys to values")
        for key, values in pairs.items():
            wanted = _as_list(values)
            actual = ctx.get(key.lower())
            if actual is None:
                if key not in missing:
                    missing.append(key)
                if if_exists or op in _NEGATED or qualifier == "ForAllValues":
                    # AWS: a missing key satisfies IfExists and the negated operators, and
                    # ForAllValues (every one of no values matches): a known pitfall
                    continue
                return False
            # a multi-valued key arrives here with its one value (the simulation's context
            # and the enforcer give one): ForAllValues and ForAnyValue then agree
            if op in _NEGATED:
                if _op_matches(_NEGATED[op], wanted, actual):
                    return False
            elif not _op_matches(op, wanted, actual):
                return False
    return True


def _statement_applies(
    st: Mapping[str, Any],
    action: str,
    resource: str,
    context: Mapping[str, str],
    missing: list[str],
) -> bool:
    unknown = set(st) - {
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
    if unknown:
        raise PolicyNotSupported(f"statement keys {sorted(unknown)} (identity policies only)")
    if st.get("Effect") not in ("Allow", "Deny"):
        raise PolicyNotSupported(f"Effect {st.get('Effect')!r}")
    if ("Action" in st) == ("NotAction" in st):
        raise PolicyNotSupported("a statement needs exactly one of Action and NotAction")
    if ("Resource" in st) == ("NotResource" in st):
        raise PolicyNotSupported("a statement needs exactly one of Resource and NotResource")
    if "Action" in st:
        if not _matches_any(_as_list(st["Action"]), action, ignore_case=True):
            return False
    elif _matches_any(_as_list(st["NotAction"]), action, ignore_case=True):
        return False
    if "Resource" in st:
        if not _matches_any(_as_list(st["Resource"]), resource, ignore_case=False):
            return False
    elif _matches_any(_as_list(st["NotResource"]), resource, ignore_case=False):
        return False
    return _condition_holds(st.get("Condition", {}), context, missing)


def _evaluate_set(
    policies: Sequence[Policy], action: str, resource: str, context: Mapping[str, str]
) -> Decision:
    out = Decision(IMPLICIT_DENY)
    allows: list[tuple[str, str]] = []
    for pol in policies:
        for i, st in enumerate(pol.statements()):
            if not _statement_applies(st, action, resource, context, out.missing_context):
                continue
            ref = (pol.policy_id, str(st.get("Sid", f"#{i}")))
            if st["Effect"] == "Deny":
                out.decision = EXPLICIT_DENY
                out.matched = [ref]
                return out
            allows.append(ref)
    if allows:
        out.decision, out.matched = ALLOWED, allows
    return out


def evaluate(
    policies: Sequence[Policy],
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
    boundary: Policy | None = None,
) -> Decision:
    """Decide one request: `action` like "ec2:ReplaceRoute", `resource` an ARN or "*"."""
    ctx = context or {}
    decision = _evaluate_set(policies, action, resource, ctx)
    if decision.decision != ALLOWED or boundary is None:
        return decision
    bounded = _evaluate_set([boundary], action, resource, ctx)
    if bounded.decision != ALLOWED:
        bounded.missing_context = sorted({*decision.missing_context, *bounded.missing_context})
        return bounded
    return decision
