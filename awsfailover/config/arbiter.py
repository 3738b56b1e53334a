"""The [arbiter] section: the optional DynamoDB lease that keeps a split brain from flapping."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from awsfailover.config.instance import Strict
from awsfailover.core.names import DYNAMODB_TABLE_RE

__all__ = ["ArbiterSettings"]


class ArbiterSettings(Strict):
    """The optional lease arbiter (README "Split brain: the lease arbiter"): a MASTER moves
    nothing unless it holds the instance's lease in this DynamoDB table."""

    table: str = Field(
        description='DynamoDB table; its only key is the partition key "lease_id" (string).'
    )
    lease_ttl: float = Field(
        3.0,
        ge=0.3,
        le=60,
        description="Seconds. A lease unchanged that long is stale: a dead master's lease is "
        "stale by the time keepalived promotes its peer, so keepalived-config refuses a ttl "
        "above the master-down interval of the advert_int it renders. Renewed every ttl/3.",
    )
    on_unreachable: Literal["act", "hold"] = Field(
        "act",
        description='When the table does not answer: "act" moves as if there were no arbiter '
        '(availability first, one loud line per transition); "hold" leaves everything where '
        "it is (a split brain cannot flap, a real death waits for the table).",
    )

    @field_validator("table")
    @classmethod
    def _table(cls, v: str) -> str:
        if not DYNAMODB_TABLE_RE.match(v):
            raise ValueError(f"{v[:80]!r} is not a DynamoDB table name")
        return v
