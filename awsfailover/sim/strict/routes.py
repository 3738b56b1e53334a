"""Route tables as strict as EC2: propagated routes cannot be replaced, ReplaceRoute answers
for the route it changed, targets in another VPC are refused."""

from __future__ import annotations

import ipaddress
from typing import Any

from awsfailover.sim.strict.state import (
    ORIG,
    err,
    lock,
)

PROPAGATED = "EnableVgwRoutePropagation"


def route_origin(self: Any) -> str:
    """AWS reports how a route came to be; moto knows only CreateRoute(Table)."""
    return getattr(self, "sim_origin", None) or (
        "CreateRouteTable" if self.local else "CreateRoute"
    )


def route_state(self: Any) -> str:
    """AWS: a route whose target ENI was deleted is a blackhole (traffic is dropped) until it
    is replaced; moto reports every route active."""
    eni = self.interface
    if eni is not None and eni.id not in self.route_table.ec2_backend.enis:
        return "blackhole"
    return "active"


def add_propagated_route(backend: Any, table_id: str, destination: str, gateway_id: str) -> None:
    """What a virtual private gateway with route propagation adds: a route of Origin
    EnableVgwRoutePropagation. It may share its destination with a static route, which wins
    ("Route priority", Amazon VPC User Guide). moto has no propagation, so the control API
    adds one."""
    from types import SimpleNamespace

    from moto.ec2.models.route_tables import Route

    with lock:
        table = backend.get_route_table(table_id)
        v6 = ipaddress.ip_network(destination).version == 6
        make: Any = Route  # moto marks CloudFormation hooks abstract; never used here
        route: Any = make(table, None if v6 else destination, destination if v6 else None)
        route.gateway = SimpleNamespace(id=gateway_id)
        route.sim_origin = PROPAGATED
        route.id = f"{route.id}~propagated"  # beside a static route of the same destination
        table._routes[route.id] = route


def _find_route(table: Any, cidr: str | None, cidr6: str | None, pl: str | None) -> Any:
    """The route ReplaceRoute changes: the static one; a propagated route alone cannot be
    replaced (propagated routes are managed by the gateway, "Route propagation", Amazon VPC
    User Guide)."""
    found = list(_matching_routes(table, cidr, cidr6, pl))
    static = [r for r in found if getattr(r, "sim_origin", None) != PROPAGATED]
    if static:
        return static[0]
    if found:
        raise err(
            "InvalidParameterValue",
            f"The route for '{cidr or cidr6 or pl}' in {table.id} is propagated from a virtual "
            "private gateway and cannot be replaced",
        )
    return None


def _matching_routes(table: Any, cidr: str | None, cidr6: str | None, pl: str | None) -> Any:
    for route in table._routes.values():
        if (
            (pl and route.destination_prefix_list and route.destination_prefix_list.id == pl)
            or (cidr and route.destination_cidr_block == cidr)
            or (
                cidr6
                and route.destination_ipv6_cidr_block
                and ipaddress.ip_network(route.destination_ipv6_cidr_block)
                == ipaddress.ip_network(cidr6)
            )
        ):
            yield route


def create_route(
    self: Any, route_table_id: str, destination_cidr_block: str | None, *args: Any, **kwargs: Any
) -> Any:
    """AWS keeps the prefix-list destination of a route that targets an ENI; moto drops it
    (and then cannot find the route to replace)."""
    pl = kwargs.get("destination_prefix_list_id") or (args[1] if len(args) > 1 else None)
    with lock:
        route = ORIG["create_route"](self, route_table_id, destination_cidr_block, *args, **kwargs)
        if pl and route.destination_prefix_list is None:
            from moto.ec2.utils import generate_route_id

            table = self.get_route_table(route_table_id)
            table._routes.pop(route.id, None)
            route.destination_prefix_list = self.managed_prefix_lists.get(pl)
            if route.destination_prefix_list is None:
                raise err("InvalidPrefixListID.NotFound", f"The prefix list {pl} does not exist")
            route.id = generate_route_id(table.id, None, None, pl)
            table._routes[route.id] = route
        return route


def replace_route_response(self: Any) -> Any:
    """AWS: DryRun checks and does not apply; a prefix-list destination can be replaced; the
    target ENI must exist."""
    from moto.core.responses import EmptyResult
    from moto.ec2.exceptions import DryRunClientError

    table_id = self._get_param("RouteTableId")
    cidr = self._get_param("DestinationCidrBlock")
    cidr6 = self._get_param("DestinationIpv6CidrBlock")
    pl = self._get_param("DestinationPrefixListId")
    eni_id = self._get_param("NetworkInterfaceId")
    with lock:
        table = self.ec2_backend.get_route_table(table_id)
        route = _find_route(table, cidr, cidr6, pl)
        if route is None:
            raise err(
                "InvalidParameterValue",
                f"There is no route defined for '{cidr or cidr6 or pl}' in the route table. "
                "Use CreateRoute instead.",
            )
        if eni_id:
            target = self.ec2_backend.get_network_interface(eni_id)
            # AWS refuses a target of another VPC ("route table rtb-... and network interface
            # eni-... belong to different networks"); moto accepts any ENI of the Region.
            if target.subnet.vpc_id != table.vpc_id:
                raise err(
                    "InvalidParameterValue",
                    f"route table {table.id} and network interface {eni_id} belong to "
                    "different networks",
                )
        if self._get_bool_param("DryRun", False):
            raise DryRunClientError()
        if eni_id:
            route.gateway = route.nat_gateway = route.transit_gateway = None
            route.egress_only_igw = route.instance = route.vpc_pcx = None
            route.carrier_gateway = None
            route.vpc_endpoint_id = None
            route.interface = self.ec2_backend.get_network_interface(eni_id)
            return EmptyResult()
    return ORIG["replace_route_response"](self)
