"""The Describe calls the engine and the agent make, each returning core.model's dataclasses."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from awsfailover.aws.parse import page, parse_address, parse_eni, parse_subnet, parse_table
from awsfailover.aws.retry import Caller
from awsfailover.core.deadline import Deadline
from awsfailover.core.model import EipState, Eni, RouteTable, Subnet
from awsfailover.errors import PermanentError

__all__ = ["Describe"]


class Describe(Caller):
    def describe_enis(
        self, eni_ids: Iterable[str], deadline: Deadline, missing_ok: bool = False
    ) -> dict[str, Eni]:
        """By a network-interface-id FILTER, not NetworkInterfaceIds: EC2 may count a call
        without filters in DescribeNetworkInterfaces' small unfiltered bucket (half the burst
        and refill), and confirmation polls this call. A filter finds no error for a missing
        ENI, so the missing one is named here."""
        ids = sorted(set(eni_ids))
        found: dict[str, Eni] = self.call(
            "DescribeNetworkInterfaces",
            ",".join(ids),
            deadline,
            lambda: {
                e.eni_id: e
                for e in map(
                    parse_eni,
                    self.client.describe_network_interfaces(
                        Filters=[{"Name": "network-interface-id", "Values": ids}]
                    )["NetworkInterfaces"],
                )
            },
        )
        missing = [i for i in ids if i not in found]
        if missing and not missing_ok:
            raise self.not_found(", ".join(missing), "InvalidNetworkInterfaceID.NotFound")
        return found

    def find_holders(
        self, vips: list[str], deadline: Deadline, vpc_id: str | None = None
    ) -> list[Eni]:
        """Every ENI holding one of vips (ONE address family, secondaries included). Private
        addresses are unique per VPC, not per Region: a staging copy of the same network may
        hold the same address. The caller keeps its own VPC's; vpc_id narrows the query when
        it is already known."""
        if not vips:
            return []
        name = (
            "ipv6-addresses.ipv6-address"
            if ipaddress.ip_address(vips[0]).version == 6
            else "addresses.private-ip-address"
        )
        filters: list[Any] = [{"Name": name, "Values": vips}]
        if vpc_id:
            filters.append({"Name": "vpc-id", "Values": [vpc_id]})
        return self.call(
            "DescribeNetworkInterfaces",
            name,
            deadline,
            lambda: [
                parse_eni(e)
                for e in self.client.describe_network_interfaces(Filters=filters)[
                    "NetworkInterfaces"
                ]
            ],
        )

    def describe_subnet_enis(self, subnet_ids: list[str], deadline: Deadline) -> list[Eni]:
        """Every ENI in the subnets: ours and every possible VIP holder, in one call (a page
        holds 1000; pages beyond that are further calls)."""
        c = self.client
        return self.paged(
            "DescribeNetworkInterfaces",
            ",".join(subnet_ids),
            deadline,
            lambda kw: c.describe_network_interfaces(
                Filters=[{"Name": "subnet-id", "Values": subnet_ids}], MaxResults=1000, **kw
            ),
            "NetworkInterfaces",
            parse_eni,
        )

    def describe_vpc_route_tables(
        self, vpc_ids: list[str], deadline: Deadline
    ) -> dict[str, RouteTable]:
        """Every route table of the VPCs in one call; the caller selects."""
        c = self.client
        tables = self.paged(
            "DescribeRouteTables",
            ",".join(vpc_ids),
            deadline,
            lambda kw: c.describe_route_tables(
                Filters=[{"Name": "vpc-id", "Values": vpc_ids}], MaxResults=100, **kw
            ),
            "RouteTables",
            parse_table,
        )
        return {t.table_id: t for t in tables}

    def describe_subnet(self, subnet_id: str, deadline: Deadline) -> Subnet:
        try:
            return self.call(
                "DescribeSubnets",
                subnet_id,
                deadline,
                lambda: parse_subnet(
                    self.client.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]
                ),
            )
        except PermanentError as err:
            raise self._config_error(err) from err

    def describe_route_tables(
        self,
        deadline: Deadline,
        *,
        table_ids: list[str] | None = None,
        subnet_ids: list[str] | None = None,
    ) -> dict[str, RouteTable]:
        """By id, or by the association.subnet-id filter; engine.select_tables decides."""
        if table_ids is not None:
            ids = sorted(set(table_ids))
            try:
                listed, _ = self.call(
                    "DescribeRouteTables",
                    ",".join(ids),
                    deadline,
                    lambda: page(
                        self.client.describe_route_tables(RouteTableIds=ids),
                        "RouteTables",
                        parse_table,
                    ),
                )
            except PermanentError as err:
                raise self._config_error(err) from err
        else:
            subnets = sorted(set(subnet_ids or []))
            listed, _ = self.call(
                "DescribeRouteTables",
                ",".join(subnets),
                deadline,
                lambda: page(
                    self.client.describe_route_tables(
                        Filters=[{"Name": "association.subnet-id", "Values": subnets}]
                    ),
                    "RouteTables",
                    parse_table,
                ),
            )
        return {t.table_id: t for t in listed}

    def describe_addresses(
        self, allocation_ids: list[str], deadline: Deadline, *, missing_ok: bool = False
    ) -> dict[str, EipState]:
        """The Elastic IPs by allocation id, in one call (DescribeAddresses does not page).
        EC2 refuses the whole call for one unknown id; missing_ok asks by the allocation-id
        filter instead, which leaves the unknown ones out (the agent's reconcile: a deleted
        Elastic IP is its own instance's problem, not every instance's)."""
        ids = sorted(set(allocation_ids))
        kwargs: dict[str, Any] = (
            {"Filters": [{"Name": "allocation-id", "Values": ids}]}
            if missing_ok
            else {"AllocationIds": ids}
        )
        try:
            found: dict[str, EipState] = self.call(
                "DescribeAddresses",
                ",".join(ids),
                deadline,
                lambda: {
                    e.allocation_id: e
                    for e in map(
                        parse_address, self.client.describe_addresses(**kwargs)["Addresses"]
                    )
                },
            )
        except PermanentError as err:
            raise self._config_error(err) from err
        missing = [i for i in ids if i not in found]
        if missing and not missing_ok:
            raise self.not_found(", ".join(missing), "InvalidAllocationID.NotFound")
        return found
