"""Make moto as strict as EC2 where awsfailover relies on it (see shared notes, aws-facts.md).

Each patch names the AWS behaviour it restores. Patches apply to moto's classes once per
process; the local endpoint installs them before it serves its first request.

The asynchronous move: AWS confirms a reassignment some time after the API call returns. With
`SimState.move_delay` > 0 a move (IPv4 reassignment, IPv6 unassign) becomes visible only after
that delay, so callers must confirm instead of trusting the 200.

The patches live by resource: addresses, eips, routes, network; their shared state in state.
"""

from __future__ import annotations

from typing import Any

from awsfailover.sim.strict.addresses import (
    assign_ipv6_addresses,
    assign_private_ip_addresses,
    assign_private_ips_response,
    eni_filter_value,
    is_filter_matching,
    subnet_ipv6_association_set,
    unassign_ipv6_addresses,
)
from awsfailover.sim.strict.eips import (
    associate_address_response,
    eip_filter_value,
    eip_network_interface_id,
    eip_private_ip_address,
)
from awsfailover.sim.strict.network import (
    create_subnet_cidr_reservation_response,
    security_group_rule_init,
)
from awsfailover.sim.strict.routes import (
    add_propagated_route,
    create_route,
    replace_route_response,
    route_origin,
    route_state,
)
from awsfailover.sim.strict.state import ORIG, STATE, SimState, lock, metadata_addresses

__all__ = ["STATE", "SimState", "add_propagated_route", "install", "lock", "metadata_addresses"]

_installed = False


def install() -> None:
    """Patch moto's classes (idempotent)."""
    global _installed  # noqa: PLW0603 - patching is process-wide by nature
    with lock:
        if _installed:
            return
        import moto.ec2.utils as ec2_utils
        from moto.ec2.models.elastic_network_interfaces import (
            NetworkInterface,
            NetworkInterfaceBackend,
        )
        from moto.ec2.models.route_tables import RouteBackend
        from moto.ec2.models.security_groups import SecurityGroupRule
        from moto.ec2.models.subnets import Subnet
        from moto.ec2.responses.elastic_network_interfaces import ElasticNetworkInterfaces
        from moto.ec2.responses.route_tables import RouteTables
        from moto.ec2.responses.subnets import Subnets

        ORIG["assign_private_ip_addresses"] = NetworkInterfaceBackend.assign_private_ip_addresses
        ORIG["assign_ipv6_addresses"] = NetworkInterfaceBackend.assign_ipv6_addresses
        ORIG["eni_filter_value"] = NetworkInterface.get_filter_value
        ORIG["is_filter_matching"] = ec2_utils.is_filter_matching
        ORIG["replace_route_response"] = RouteTables.replace_route
        ORIG["create_route"] = RouteBackend.create_route
        ORIG["sg_rule_init"] = SecurityGroupRule.__init__
        from moto.ec2.models.route_tables import Route

        ORIG["create_subnet_cidr_reservation"] = Subnets.create_subnet_cidr_reservation
        from moto.ec2.models.elastic_ip_addresses import ElasticAddress
        from moto.ec2.responses.elastic_ip_addresses import ElasticIPAddresses

        ORIG["eip_filter_value"] = ElasticAddress.get_filter_value

        patches: list[tuple[Any, str, Any]] = [
            (NetworkInterfaceBackend, "assign_private_ip_addresses", assign_private_ip_addresses),
            (NetworkInterfaceBackend, "assign_ipv6_addresses", assign_ipv6_addresses),
            (NetworkInterfaceBackend, "unassign_ipv6_addresses", unassign_ipv6_addresses),
            (NetworkInterface, "get_filter_value", eni_filter_value),
            (ec2_utils, "is_filter_matching", is_filter_matching),
            (RouteTables, "replace_route", replace_route_response),
            (RouteBackend, "create_route", create_route),
            (Subnet, "ipv6_cidr_block_association_set", property(subnet_ipv6_association_set)),
            (ElasticNetworkInterfaces, "assign_private_ip_addresses", assign_private_ips_response),
            (SecurityGroupRule, "__init__", security_group_rule_init),
            (Subnets, "create_subnet_cidr_reservation", create_subnet_cidr_reservation_response),
            (Route, "origin", property(route_origin)),
            (Route, "state", property(route_state)),
            (ElasticAddress, "private_ip_address", property(eip_private_ip_address)),
            (ElasticAddress, "get_filter_value", eip_filter_value),
            (ElasticAddress, "network_interface_id", property(eip_network_interface_id)),
            (ElasticIPAddresses, "associate_address", associate_address_response),
        ]
        for target, name, fn in patches:
            setattr(target, name, fn)
        _installed = True
