"""Which route tables an instance acts on: explicit associations only, never the main table."""

from __future__ import annotations

import pytest

from awsfailover.core.model import RouteTable
from awsfailover.core.spec import InstanceSpec
from awsfailover.core.tables import select_tables
from awsfailover.errors import ConfigError

TABLES = {
    "rtb-a": RouteTable("rtb-a", "vpc-1", {}, ("subnet-1",)),
    "rtb-b": RouteTable("rtb-b", "vpc-1", {}, ("subnet-2", "subnet-3")),
    "rtb-main": RouteTable("rtb-main", "vpc-1", {}, ()),  # main: implicit associations only
}


def test_by_id() -> None:
    inst = InstanceSpec("VI_1", routes=("10.9.0.0/16",), route_tables=("rtb-b",))
    assert list(select_tables(inst, TABLES, "subnet-1")) == ["rtb-b"]
    missing = InstanceSpec("VI_1", routes=("10.9.0.0/16",), route_tables=("rtb-b", "rtb-x"))
    with pytest.raises(ConfigError, match="rtb-x does not exist"):
        select_tables(missing, TABLES, "subnet-1")


def test_by_subnet_defaults_to_the_local_one() -> None:
    inst = InstanceSpec("VI_1", routes=("10.9.0.0/16",))
    assert list(select_tables(inst, TABLES, "subnet-1")) == ["rtb-a"]
    named = InstanceSpec("VI_1", routes=("10.9.0.0/16",), subnet_ids=("subnet-2", "subnet-1"))
    assert sorted(select_tables(named, TABLES, "subnet-9")) == ["rtb-a", "rtb-b"]


def test_a_subnet_on_the_main_table_is_refused() -> None:
    inst = InstanceSpec("VI_1", routes=("10.9.0.0/16",), subnet_ids=("subnet-4",))
    with pytest.raises(ConfigError, match="main route table is never used"):
        select_tables(inst, TABLES, "subnet-1")
