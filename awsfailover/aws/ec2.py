"""The EC2 gateway: every EC2 call the project makes is a method of Ec2, typed, classified
(aws.classify) and retried within its deadline (aws.retry). Reads are in aws.describe, the
preflight tools' reads and dry runs in aws.probe, the mutating calls here.
"""

from __future__ import annotations

from awsfailover.aws.describe import Describe
from awsfailover.aws.probe import Probe
from awsfailover.core.deadline import Deadline
from awsfailover.core.model import destination_kind

__all__ = ["Ec2"]


class Ec2(Describe, Probe):
    def associate_address(
        self,
        allocation_id: str,
        eni_id: str,
        private_ip: str,
        deadline: Deadline,
        *,
        dry_run: bool = False,
    ) -> None:
        self.call(
            "AssociateAddress",
            f"{allocation_id} {eni_id}",
            deadline,
            lambda: self.client.associate_address(
                AllocationId=allocation_id,
                NetworkInterfaceId=eni_id,
                PrivateIpAddress=private_ip,
                AllowReassociation=True,
                DryRun=dry_run,
            ),
        )

    def assign_private_ips(self, eni_id: str, ips: list[str], deadline: Deadline) -> None:
        self.call(
            "AssignPrivateIpAddresses",
            eni_id,
            deadline,
            lambda: self.client.assign_private_ip_addresses(
                NetworkInterfaceId=eni_id, PrivateIpAddresses=ips, AllowReassignment=True
            ),
        )

    def unassign_ipv6(self, eni_id: str, ips: list[str], deadline: Deadline) -> None:
        self.call(
            "UnassignIpv6Addresses",
            eni_id,
            deadline,
            lambda: self.client.unassign_ipv6_addresses(
                NetworkInterfaceId=eni_id, Ipv6Addresses=ips
            ),
        )

    def assign_ipv6(self, eni_id: str, ips: list[str], deadline: Deadline) -> None:
        self.call(
            "AssignIpv6Addresses",
            eni_id,
            deadline,
            lambda: self.client.assign_ipv6_addresses(NetworkInterfaceId=eni_id, Ipv6Addresses=ips),
        )

    def replace_route(
        self,
        table_id: str,
        destination: str,
        eni_id: str,
        deadline: Deadline,
        *,
        dry_run: bool = False,
    ) -> None:
        kind = destination_kind(destination)
        dest: dict[str, str] = (
            {"DestinationPrefixListId": destination}
            if kind == "pl"
            else {"DestinationIpv6CidrBlock": destination}
            if kind == "ipv6"
            else {"DestinationCidrBlock": destination}
        )
        self.call(
            "ReplaceRoute",
            f"{table_id} {destination}",
            deadline,
            lambda: self.client.replace_route(
                RouteTableId=table_id,
                NetworkInterfaceId=eni_id,
                DryRun=dry_run,
                **dest,  # type: ignore[arg-type]
            ),
        )
