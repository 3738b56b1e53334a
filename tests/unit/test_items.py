"""Items are (kind, key) values whose order and spelling are the operator's."""

from __future__ import annotations

from awsfailover.core.items import KINDS, Item


def test_order_and_spelling() -> None:
    items = [
        Item.vip("10.0.1.100"),
        Item.route("rtb-1", "10.9.0.0/16"),
        Item.eip("eipalloc-01234567"),
        Item.vip("10.0.1.099"),
    ]
    assert [str(i) for i in sorted(items)] == sorted(str(i) for i in items)
    assert str(Item.route("rtb-1", "pl-0123")) == "route rtb-1 pl-0123"
    assert set(KINDS) == {"eip", "route", "vip"}
