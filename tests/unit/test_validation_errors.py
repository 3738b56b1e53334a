"""A config error is one line that names each bad key."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from awsfailover.config.load import format_validation_error
from awsfailover.config.schema import Settings


def errors_of(**doc: object) -> str:
    with pytest.raises(ValidationError) as info:
        Settings(**doc)
    return format_validation_error(info.value)


def test_each_bad_key_is_named_once_on_one_line() -> None:
    text = errors_of(
        instances=[{"name": "VI_1", "vips": ["10.0.1.300"]}],
        failover={"deadline": -1},
        bogus=1,
    )
    assert "\n" not in text
    parts = text.split("; ")
    assert any(p.startswith("instances.0.vips: ") and "not an IP address" in p for p in parts)
    assert any(p.startswith("failover.deadline: ") for p in parts)
    assert "bogus: unknown key" in parts
    assert not any("Value error, " in p for p in parts)  # pydantic's prefix is dropped


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"arbiter": {"table": "leases"}}, "[arbiter] needs group.name"),
        ({"arbiter": {"table": "x"}, "group": {"name": "edge"}}, "not a DynamoDB table name"),
        (
            {"arbiter": {"table": "leases", "on_unreachable": "wait"}, "group": {"name": "e"}},
            "arbiter.on_unreachable",
        ),
        ({"arbiter": {"table": "leases", "lease_ttl": 0.1}, "group": {"name": "e"}}, "lease_ttl"),
        ({"group": {"name": "edge/1"}}, "not a group name"),
    ],
)
def test_the_arbiter_section_is_checked_at_load(doc: dict[str, object], message: str) -> None:
    assert message in errors_of(**doc)


def test_an_arbiter_with_its_group_name_loads() -> None:
    s = Settings(arbiter={"table": "awsfailover-leases"}, group={"name": "edge-1"})
    assert (
        s.arbiter is not None and s.arbiter.lease_ttl == 3.0 and s.arbiter.on_unreachable == "act"
    )
