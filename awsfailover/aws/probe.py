"""The EC2 reads about instances and the preflight tools' reads (doctor's probes, check-iam's
contexts), and check-iam's dry runs, through the same retry policy as every other call.

doctor judges fields of EC2's own answers (security group rules, source/dest check,
attachments), so these reads return EC2's entries by id, unparsed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from awsfailover.aws.classify import classify
from awsfailover.aws.retry import Caller
from awsfailover.core.deadline import Deadline
from awsfailover.core.model import AddressLimit
from awsfailover.errors import AwsError

__all__ = ["Probe"]

Entry = Mapping[str, Any]


class Probe(Caller):
    def eni_entry(self, eni_id: str, deadline: Deadline) -> Entry | None:
        """One ENI's DescribeNetworkInterfaces entry; None when it does not exist."""
        c = self.client
        try:
            resp = self.call(
                "DescribeNetworkInterfaces",
                eni_id,
                deadline,
                lambda: c.describe_network_interfaces(NetworkInterfaceIds=[eni_id]),
            )
        except AwsError as err:
            if "NotFound" not in err.code:
                raise
            return None
        entry: Entry = resp["NetworkInterfaces"][0]
        return entry

    def _by_id(  # noqa: PLR0917 - the call, then where its entries and their ids are
        self,
        operation: str,
        ids: list[str],
        deadline: Deadline,
        fetch: Callable[[], Any],
        list_key: str,
        id_key: str,
    ) -> dict[str, Entry]:
        resp = self.call(operation, ",".join(ids), deadline, fetch)
        return {e[id_key]: e for e in resp[list_key]}

    def subnet_entries(self, subnet_ids: list[str], deadline: Deadline) -> dict[str, Entry]:
        c = self.client
        fetch = lambda: c.describe_subnets(SubnetIds=subnet_ids)  # noqa: E731
        return self._by_id("DescribeSubnets", subnet_ids, deadline, fetch, "Subnets", "SubnetId")

    def security_group_entries(self, group_ids: list[str], deadline: Deadline) -> dict[str, Entry]:
        c = self.client
        fetch = lambda: c.describe_security_groups(GroupIds=group_ids)  # noqa: E731
        return self._by_id(
            "DescribeSecurityGroups", group_ids, deadline, fetch, "SecurityGroups", "GroupId"
        )

    def explicit_reservations(self, subnet_id: str, deadline: Deadline) -> list[str]:
        """The subnet's explicit CIDR reservations (addresses EC2 will not hand out)."""
        c = self.client
        held = self.call(
            "GetSubnetCidrReservations",
            subnet_id,
            deadline,
            lambda: c.get_subnet_cidr_reservations(SubnetId=subnet_id),
        )
        return [
            str(r["Cidr"])
            for r in held.get("SubnetIpv4CidrReservations", [])
            if r.get("ReservationType") == "explicit"
        ]

    def eni_tags(self, eni_ids: list[str], deadline: Deadline) -> dict[str, dict[str, str]]:
        if not eni_ids:
            return {}
        c = self.client
        resp = self.call(
            "DescribeNetworkInterfaces",
            ",".join(eni_ids),
            deadline,
            lambda: c.describe_network_interfaces(NetworkInterfaceIds=eni_ids),
        )
        return {
            raw["NetworkInterfaceId"]: {t["Key"]: t["Value"] for t in raw.get("TagSet", [])}
            for raw in resp["NetworkInterfaces"]
        }

    def ipv4_limit(self, eni_id: str, deadline: Deadline) -> tuple[str, int] | None:
        """(instance type, IPv4 addresses per ENI) of the instance eni_id is attached to."""
        c = self.client
        raw = self.call(
            "DescribeNetworkInterfaces",
            eni_id,
            deadline,
            lambda: c.describe_network_interfaces(NetworkInterfaceIds=[eni_id])[
                "NetworkInterfaces"
            ][0],
        )
        instance = raw.get("Attachment", {}).get("InstanceId")
        if not instance:
            return None
        limit = self.address_limits({eni_id: instance}, deadline).get(eni_id)
        return None if limit is None else (limit.instance_type, limit.ipv4)

    def address_limits(
        self, instance_of: Mapping[str, str], deadline: Deadline
    ) -> dict[str, AddressLimit]:
        """ENI -> the address limits of its instance's type, for ENIs given with their
        instance id (two calls however many: DescribeInstances, DescribeInstanceTypes)."""
        if not instance_of:
            return {}
        c = self.client
        ids = sorted(set(instance_of.values()))
        resp = self.call(
            "DescribeInstances",
            ",".join(ids),
            deadline,
            lambda: c.describe_instances(InstanceIds=ids),
        )
        itype = {
            i["InstanceId"]: i["InstanceType"] for r in resp["Reservations"] for i in r["Instances"]
        }
        types = sorted(set(itype.values()))
        info = self.call(
            "DescribeInstanceTypes",
            ",".join(types),
            deadline,
            lambda: c.describe_instance_types(InstanceTypes=types),
        )
        limits = {
            t["InstanceType"]: (
                int(t["NetworkInfo"]["Ipv4AddressesPerInterface"]),
                int(t["NetworkInfo"].get("Ipv6AddressesPerInterface", 0)),
            )
            for t in info["InstanceTypes"]
        }
        return {
            eni: AddressLimit(str(itype[i]), *limits[itype[i]])
            for eni, i in instance_of.items()
            if itype.get(i) in limits
        }

    # --- dry runs: one attempt each, the answer is the error ------------------------------

    def _dry_runs(self, eni_id: str, subnet_id: Callable[[], str]) -> dict[str, Callable[[], Any]]:
        c = self.client
        return {
            "ec2:DescribeNetworkInterfaces": lambda: c.describe_network_interfaces(
                NetworkInterfaceIds=[eni_id], DryRun=True
            ),
            "ec2:DescribeRouteTables": lambda: c.describe_route_tables(DryRun=True),
            "ec2:DescribeSubnets": lambda: c.describe_subnets(DryRun=True),
            "ec2:DescribeSecurityGroups": lambda: c.describe_security_groups(DryRun=True),
            "ec2:GetSubnetCidrReservations": lambda: c.get_subnet_cidr_reservations(
                SubnetId=subnet_id(), DryRun=True
            ),
            "ec2:DescribeInstances": lambda: c.describe_instances(DryRun=True),
            "ec2:DescribeInstanceTypes": lambda: c.describe_instance_types(DryRun=True),
            "ec2:DescribeAddresses": lambda: c.describe_addresses(DryRun=True),
        }

    def dry_run_actions(self) -> frozenset[str]:
        """The read-only actions dry_run can try."""
        return frozenset(self._dry_runs("", str))

    def dry_run(self, action: str, eni_id: str, subnet_id: Callable[[], str]) -> None:
        """Ask EC2 whether action would be allowed, without acting: EC2 answers with an
        error (DryRunOperation when allowed), raised here classified."""
        fn = self._dry_runs(eni_id, subnet_id)[action]
        try:
            fn()
        except Exception as exc:
            raise classify(exc, action.split(":", 1)[1], "*") from exc

    def associate_dry_run(self, allocation_id: str, eni_id: str) -> None:
        """AssociateAddress to the primary address of eni_id: DryRun asks for permission on
        the elastic-ip and the network-interface, whatever the addresses' state."""
        try:
            self.client.associate_address(
                AllocationId=allocation_id,
                NetworkInterfaceId=eni_id,
                AllowReassociation=True,
                DryRun=True,
            )
        except Exception as exc:
            raise classify(exc, "AssociateAddress", allocation_id) from exc
