"""Issue 17 item 7: two Elastic IPs mapped to one private address are refused (EC2 keeps one
per address, so each association would knock the other off): at load where the config says
it, at plan time where only the node's AZ or primary address tells."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from awsfailover.config.schema import InstanceSettings
from awsfailover.core.model import EipState, Eni, Observed, Subnet
from awsfailover.core.plan import plan
from awsfailover.core.spec import EipSpec, InstanceSpec
from awsfailover.errors import ConfigError

A, B = "eipalloc-0aaaaaaaaaaaaaaaa", "eipalloc-0bbbbbbbbbbbbbbbb"


@pytest.mark.parametrize(
    "eips",
    [
        [{"allocation_id": A}, {"allocation_id": B}],  # both default to the first VIP
        [
            {"allocation_id": A, "private_ip": "primary"},
            {"allocation_id": B, "private_ip": "primary"},
        ],
        [{"allocation_id": A}, {"allocation_id": B, "private_ip": "10.0.1.100"}],
    ],
)
def test_refused_at_load(eips: list[dict[str, str]]) -> None:
    with pytest.raises(ValidationError, match=f"{A} and {B} both map to"):
        InstanceSettings(name="VI_1", vips=["10.0.1.100"], eips=eips)


def test_refused_at_plan_time_when_the_az_decides() -> None:
    inst = InstanceSpec(
        "VI_1",
        vips=("10.0.1.100",),
        eips=(
            EipSpec(A, {"eu-north-1a": "10.0.1.100", "eu-north-1b": "10.0.9.100"}),
            EipSpec(B, None),  # the first VIP: the same address in eu-north-1a
        ),
    )
    local = Eni("eni-b", "subnet-1", "vpc-1", "10.0.1.11", ("10.0.1.11",), ())
    observed = Observed(
        local=local,
        subnet=Subnet("subnet-1", "vpc-1", "10.0.1.0/24", (), "eu-north-1a"),
        holders={},
        tables={},
        eips={a: EipState(a, "203.0.113.1", None, None) for a in (A, B)},
    )
    with pytest.raises(ConfigError, match=f"{A} and {B} both map to 10.0.1.100"):
        plan(inst, observed)
