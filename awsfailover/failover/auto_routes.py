"""routes = "auto": which routes of an instance's tables are its own, by their target.

A route is the instance's when it is aimed at one of the group's ENIs that play the instance's
role, and no other instance lists its destination explicitly. On a single-NIC node every group
ENI plays the one role. On a multi-NIC node the group's ENIs play different roles (private,
public): a route aimed at another role's ENI is that role's, so only the group ENIs in the
subnet of the instance's own ENI are taken, unless the instance lists its route_enis (a pair
whose role spans subnets, in two AZs).
"""

from __future__ import annotations

from collections.abc import Callable

from awsfailover.config.compact import FailoverConfig
from awsfailover.core.model import Eni
from awsfailover.core.spec import InstanceSpec

__all__ = ["AutoRoutes"]


class AutoRoutes:
    def __init__(
        self, settings: FailoverConfig, eni_of: Callable[[InstanceSpec], str], node_eni: str
    ) -> None:
        self.settings = settings
        self.eni_of = eni_of
        self.node_eni = node_eni

    def multi_nic(self) -> bool:
        return len({self.eni_of(i) for i in self.settings.specs} | {self.node_eni}) > 1

    def needs_roles(self, inst: InstanceSpec) -> bool:
        """Whether the group ENIs' subnets must be known to pick this instance's role."""
        return inst.auto_routes and inst.route_enis is None and self.multi_nic()

    def select(
        self, inst: InstanceSpec, local: Eni, subnet_of: dict[str, str]
    ) -> tuple[frozenset[str], frozenset[str]]:
        """(the ENIs whose routes are inst's, destinations other instances list)."""
        if not inst.auto_routes:
            return frozenset(), frozenset()
        claimed = {d for i in self.settings.specs if i.name != inst.name for d in i.explicit_routes}
        if inst.route_enis is not None:
            enis = set(inst.route_enis)
        elif self.multi_nic():
            enis = {e for e in self.settings.group.enis if subnet_of.get(e) == local.subnet_id}
        else:
            enis = set(self.settings.group.enis)
        return frozenset(enis), frozenset(claimed)
