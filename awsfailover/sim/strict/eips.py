"""Elastic IPs as EC2 models them: an association is (ENI, private address), it follows its
private address when that moves, and AssociateAddress refuses an address the ENI lacks."""

from __future__ import annotations

from typing import Any

from awsfailover.sim.strict.state import (
    ORIG,
    eip_private,
    err,
    lock,
)


def eip_private_ip_address(self: Any) -> str | None:
    """AWS reports the private address the Elastic IP maps to; moto always says primary."""
    return eip_private(self)


def eip_network_interface_id(self: Any) -> str | None:
    """AWS omits NetworkInterfaceId of an unassociated address; moto sends it empty."""
    eni_id: str | None = self.eni.id if self.eni else None
    return eni_id


def eip_filter_value(self: Any, filter_name: str, method_name: str | None = None) -> Any:
    if filter_name == "private-ip-address":
        return eip_private(self)
    return ORIG["eip_filter_value"](self, filter_name, method_name)


def associate_address_response(self: Any) -> Any:
    """AssociateAddress as EC2 does it for a VPC address (AssociateAddress, EC2 API Reference):
    - by allocation id, to a network interface and one of its private addresses (primary when
      none is given); an address the ENI does not hold is refused (AWS documents no code for
      it: InvalidParameterValue, EC2's code for a bad parameter);
    - an address associated elsewhere moves only with AllowReassociation=true, else
      Resource.AlreadyAssociated (the stricter, older documented behaviour: we always send
      the flag, so a caller that forgets it must fail here). moto reads the flag as a string,
      so "false" allows it, and ignores PrivateIpAddress;
    - one Elastic IP per private address: one already there is disassociated;
    - idempotent: the same association again succeeds and keeps its id."""
    from moto.core.responses import ActionResult
    from moto.ec2.exceptions import DryRunClientError
    from moto.ec2.utils import random_eip_association_id

    alloc = self._get_param("AllocationId")
    eni_id = self._get_param("NetworkInterfaceId")
    if not alloc or not eni_id:
        raise err(
            "MissingParameter", "the local endpoint takes AllocationId and NetworkInterfaceId"
        )
    allow = self._get_bool_param("AllowReassociation", False)
    backend = self.ec2_backend
    with lock:
        eip = backend.address_by_allocation([alloc])[0]
        eni = backend.get_network_interface(eni_id)
        if self._get_bool_param("DryRun", False):
            # permission only: the resources exist, the state is not judged (check-iam asks
            # with the peer's VIP before any move)
            raise DryRunClientError()
        private = self._get_param("PrivateIpAddress") or eni.private_ip_address
        if private not in {a["PrivateIpAddress"] for a in eni.private_ip_addresses}:
            raise err(
                "InvalidParameterValue",
                f"The private IP address {private} is not assigned to network interface {eni_id}",
            )
        same = eip.eni is eni and eip_private(eip) == private
        if eip.eni is not None and not same and not allow:
            raise err(
                "Resource.AlreadyAssociated",
                f"Elastic IP {alloc} is already associated with {eip.eni.id} {eip_private(eip)}",
            )
        if not same:
            for other in backend.addresses:
                if other is not eip and other.eni is eni and eip_private(other) == private:
                    other.eni = other.instance = other.association_id = None
            eip.eni = eni
            eip.instance = getattr(eni, "instance", None)
            eip.sim_private_ip = private
            eip.association_id = random_eip_association_id()
        return ActionResult({"AssociationId": eip.association_id})
