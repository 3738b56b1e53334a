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
