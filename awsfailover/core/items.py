"""What a takeover converges, one item at a time: a VIP, an Elastic IP or a route. Pure.

An item is a (kind, key) value: the planner, the confirmation, the outcome and the metrics read
its kind instead of parsing a string by prefix. `str(item)` is the one spelling an operator
sees ("vip 10.0.1.100", "eip eipalloc-...", "route rtb-... 10.0.0.0/16").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["KINDS", "Item", "Kind"]

Kind = Literal["eip", "route", "vip"]
KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True, order=True)
class Item:
    # Ordered by (kind, key), which is the order of their spellings: kinds are distinct words.
    kind: Kind
    key: str  # the address, the allocation id, or "<table> <destination>"

    @classmethod
    def vip(cls, address: str) -> Item:
        return cls("vip", address)

    @classmethod
    def eip(cls, allocation_id: str) -> Item:
        return cls("eip", allocation_id)

    @classmethod
    def route(cls, table_id: str, destination: str) -> Item:
        return cls("route", f"{table_id} {destination}")

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"
