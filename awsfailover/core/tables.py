"""Which route tables an instance acts on. Pure: it reads a listing someone else fetched."""

from __future__ import annotations

from awsfailover.core.model import RouteTable
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import ConfigError

__all__ = ["select_tables"]


def select_tables(
    inst: InstanceSpec, all_tables: dict[str, RouteTable], local_subnet: str
) -> dict[str, RouteTable]:
    """The tables an instance acts on, from whatever listing was fetched (by id, by subnet
    filter, or the whole VPC): explicit associations only, never the main table."""
    if inst.route_tables is not None:
        missing = [t for t in inst.route_tables if t not in all_tables]
        if missing:
            raise ConfigError(
                f"instances.{inst.name}.route_tables: {', '.join(missing)} "
                "does not exist in this node's VPC"
            )
        return {t: all_tables[t] for t in inst.route_tables}
    subnets = inst.subnet_ids if inst.subnet_ids is not None else [local_subnet]
    chosen = {k: t for k, t in all_tables.items() if set(t.explicit_subnets) & set(subnets)}
    for s in subnets:
        if not any(s in t.explicit_subnets for t in chosen.values()):
            raise ConfigError(
                f"subnet {s} has no explicitly associated route table "
                "(the main route table is never used implicitly)"
            )
    return chosen
