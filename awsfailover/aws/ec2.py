"""The one module that talks to EC2: typed calls, error classification, the retry policy.

Who retries: botocore's own retries are switched off (total_max_attempts=1) and tenacity
retries transient errors with exponential backoff and full jitter, bounded by the takeover's
deadline. Stacking both would multiply attempts (5 legacy x N ours) and blow the deadline.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from awsfailover.aws.classify import classify
from awsfailover.core.deadline import Deadline
from awsfailover.core.model import EipState, Eni, RouteState, RouteTable, Subnet, destination_kind
from awsfailover.errors import AwsError, ConfigError, PermanentError, TransientError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

log = logging.getLogger(__name__)

T = TypeVar("T")

# Errors on a resource the config names mean the config is wrong, not that AWS is.
_CONFIG_NOT_FOUND = frozenset(
    {
        "InvalidNetworkInterfaceID.NotFound",
        "InvalidNetworkInterfaceID.Malformed",
        "InvalidRouteTableID.NotFound",
        "InvalidRouteTableID.Malformed",
        "InvalidSubnetID.NotFound",
        "InvalidSubnetID.Malformed",
        "InvalidAllocationID.NotFound",
        "InvalidAllocationID.Malformed",
    }
)


class CallObserver(Protocol):
    """Receives one event per API attempt (the agent turns these into metrics)."""

    def api_call(self, operation: str, outcome: str, seconds: float) -> None: ...

    def api_retry(self, operation: str, code: str) -> None: ...


class CallCounter:
    """Default observer: counts attempts and retries per operation (tests read it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()

    def api_call(self, operation: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self.calls[operation] += 1

    def api_retry(self, operation: str, code: str) -> None:
        with self._lock:
            self.retries[operation] += 1


def make_ec2_client(
    region: str,
    endpoint_url: str | None = None,
    *,
    connect_timeout: float = 2.0,
    read_timeout: float = 5.0,
    max_pool_connections: int = 20,
) -> EC2Client:
    # botocore directly: boto3's resource layer is never used and costs import time in the hook.
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    cfg = Config(
        region_name=region,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )
    client = session.create_client("ec2", endpoint_url=endpoint_url, config=cfg)
    return cast("EC2Client", client)


def make_client(service: str, region: str, endpoint_url: str | None = None) -> Any:
    """A client for the preflight tools (IAM, STS): botocore's standard retries are enough
    there, nothing races a deadline. With no endpoint_url, botocore's own configuration
    applies (AWS_ENDPOINT_URL_IAM, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL)."""
    import botocore.session
    from botocore.config import Config

    cfg = Config(region_name=region, retries={"mode": "standard"}, connect_timeout=3)
    return botocore.session.get_session().create_client(
        service, endpoint_url=endpoint_url, config=cfg
    )


def call_once(operation: str, resource: str, fn: Callable[[], T]) -> T:
    """One call with the errors classified (for the preflight tools)."""
    try:
        return fn()
    except AwsError:
        raise
    except Exception as exc:
        raise classify(exc, operation, resource) from exc


def _parse_eni(raw: Any) -> Eni:
    return Eni(
        eni_id=raw["NetworkInterfaceId"],
        subnet_id=raw.get("SubnetId", ""),
        vpc_id=raw.get("VpcId", ""),
        primary_ipv4=raw.get("PrivateIpAddress", ""),
        private_ipv4s=tuple(a["PrivateIpAddress"] for a in raw.get("PrivateIpAddresses", [])),
        ipv6s=tuple(
            str(ipaddress.ip_address(a["Ipv6Address"])) for a in raw.get("Ipv6Addresses", [])
        ),
    )


_TARGET_KEYS = (
    "NetworkInterfaceId",
    "TransitGatewayId",
    "NatGatewayId",
    "VpcPeeringConnectionId",
    "GatewayId",
    "InstanceId",
    "EgressOnlyInternetGatewayId",
    "CarrierGatewayId",
    "LocalGatewayId",
    "CoreNetworkArn",
)


def _parse_route(raw: Any) -> RouteState | None:
    if raw.get("DestinationPrefixListId"):
        dest = raw["DestinationPrefixListId"]
    elif raw.get("DestinationCidrBlock"):
        dest = str(ipaddress.ip_network(raw["DestinationCidrBlock"], strict=False))
    elif raw.get("DestinationIpv6CidrBlock"):
        dest = str(ipaddress.ip_network(raw["DestinationIpv6CidrBlock"], strict=False))
    else:
        return None
    eni = raw.get("NetworkInterfaceId") or None
    target = next((raw[k] for k in _TARGET_KEYS if raw.get(k)), "none")
    if raw.get("State") == "blackhole":
        target = f"blackhole({target})"
    propagated = raw.get("Origin") == "EnableVgwRoutePropagation"
    return RouteState(destination=dest, eni_id=eni, target=target, propagated=propagated)


def _parse_table(raw: Any) -> RouteTable:
    routes: dict[str, RouteState] = {}
    for r in raw.get("Routes", []):
        parsed = _parse_route(r)
        if parsed is None:
            continue
        # A static and a propagated route may share a destination; the static one wins the
        # traffic ("Route priority", Amazon VPC User Guide) and is the one ReplaceRoute changes.
        known = routes.get(parsed.destination)
        if known is None or (known.propagated and not parsed.propagated):
            routes[parsed.destination] = parsed
    subnets = tuple(
        a["SubnetId"]
        for a in raw.get("Associations", [])
        if a.get("SubnetId") and not a.get("Main")
    )
    return RouteTable(
        table_id=raw["RouteTableId"],
        vpc_id=raw.get("VpcId", ""),
        routes=routes,
        explicit_subnets=subnets,
    )


def _parse_subnet(raw: Any) -> Subnet:
    v6 = tuple(
        a["Ipv6CidrBlock"]
        for a in raw.get("Ipv6CidrBlockAssociationSet", [])
        if a.get("Ipv6CidrBlockState", {}).get("State", "associated") == "associated"
    )
    return Subnet(
        subnet_id=raw["SubnetId"],
        vpc_id=raw["VpcId"],
        ipv4_cidr=raw["CidrBlock"],
        ipv6_cidrs=v6,
        availability_zone=raw.get("AvailabilityZone", ""),
    )


def _parse_address(raw: Any) -> EipState:
    return EipState(
        allocation_id=raw["AllocationId"],
        public_ip=raw.get("PublicIp", ""),
        eni_id=raw.get("NetworkInterfaceId") or None,
        private_ip=raw.get("PrivateIpAddress") or None,
    )


P = TypeVar("P")


def _page(resp: Any, key: str, parse: Callable[[Any], P]) -> tuple[list[P], str | None]:
    """One page, parsed inside the attempt: a malformed answer is retried like a dropped one."""
    return [parse(r) for r in resp[key]], resp.get("NextToken") or None


class _ThrottleGate:
    """Shared by every call of one operation: EC2 throttles per API (one token bucket each),
    so when one call is throttled the concurrent ones would be too. After a throttle, every
    caller waits out a jittered pause that doubles while throttling goes on, instead of
    sixteen workers retrying on their own and draining the account's bucket for other
    clients too."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._streak = 0

    def wait(self, deadline: Deadline) -> None:
        with self._lock:
            pause = self._until - time.monotonic()
        if pause > 0:
            time.sleep(min(pause, max(0.0, deadline.remaining() - 0.05)))

    def throttled(self) -> None:
        import random

        with self._lock:
            self._streak = min(self._streak + 1, 5)
            step = random.uniform(0.5, 1.0) * min(0.5, 0.025 * 2**self._streak)
            self._until = max(self._until, time.monotonic() + step)

    def ok(self) -> None:
        # One success does not mean the bucket has refilled: step down, not to zero.
        with self._lock:
            self._streak = max(0, self._streak - 1)


class Ec2:
    """Typed EC2 operations with the retry policy. The client is injected."""

    def __init__(self, client: EC2Client, observer: CallObserver | None = None) -> None:
        self.client = client
        self.observer: CallObserver = observer or CallCounter()
        self._gates: dict[str, _ThrottleGate] = {}
        self._gates_lock = threading.Lock()

    def _gate(self, operation: str) -> _ThrottleGate:
        with self._gates_lock:
            gate = self._gates.get(operation)
            if gate is None:
                gate = self._gates[operation] = _ThrottleGate()
            return gate

    # --- the retry policy ----------------------------------------------------------------

    def call(self, operation: str, resource: str, deadline: Deadline, fn: Callable[[], T]) -> T:
        """Run fn, retrying transient errors with full jitter until the deadline."""
        from tenacity import (
            RetryCallState,
            Retrying,
            retry_if_exception_type,
            wait_random_exponential,
        )

        jitter = wait_random_exponential(multiplier=0.05, max=0.5)

        def wait(state: RetryCallState) -> float:
            return min(jitter(state), deadline.remaining())

        def stop(state: RetryCallState) -> bool:
            # Stop when no meaningful time is left for another attempt.
            return deadline.remaining() < 0.05

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            code = exc.code if isinstance(exc, AwsError) else "unknown"
            self.observer.api_retry(operation, code)
            log.info(
                "retrying %s on %s after %s (attempt %d)",
                operation,
                resource or "-",
                code,
                state.attempt_number,
            )

        gate = self._gate(operation)

        def attempt() -> T:
            gate.wait(deadline)
            started = time.monotonic()
            try:
                result = fn()
            except Exception as exc:
                err = classify(exc, operation, resource)
                if isinstance(err, TransientError) and err.throttled:
                    gate.throttled()
                outcome = (
                    "throttled"
                    if isinstance(err, TransientError) and err.throttled
                    else ("transient" if isinstance(err, TransientError) else "error")
                )
                self.observer.api_call(operation, outcome, time.monotonic() - started)
                raise err from exc
            gate.ok()
            self.observer.api_call(operation, "ok", time.monotonic() - started)
            return result

        retrying = Retrying(
            retry=retry_if_exception_type(TransientError),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(attempt)

    @staticmethod
    def _config_error(err: PermanentError) -> ConfigError | PermanentError:
        if err.code in _CONFIG_NOT_FOUND:
            return ConfigError(f"{err.resource or err.operation} does not exist ({err.code})")
        return err

    # --- reads ---------------------------------------------------------------------------

    def describe_enis(self, eni_ids: Iterable[str], deadline: Deadline) -> dict[str, Eni]:
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
                    _parse_eni,
                    self.client.describe_network_interfaces(
                        Filters=[{"Name": "network-interface-id", "Values": ids}]
                    )["NetworkInterfaces"],
                )
            },
        )
        missing = [i for i in ids if i not in found]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} does not exist (InvalidNetworkInterfaceID.NotFound)"
            )
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
                _parse_eni(e)
                for e in self.client.describe_network_interfaces(Filters=filters)[
                    "NetworkInterfaces"
                ]
            ],
        )

    def describe_subnet_enis(self, subnet_ids: list[str], deadline: Deadline) -> list[Eni]:
        """Every ENI in the subnets: ours and every possible VIP holder, in one call (a page
        holds 1000; pages beyond that are further calls)."""
        subnet_id = ",".join(subnet_ids)
        enis: list[Eni] = []
        token: str | None = None
        for _ in range(100):  # bounded: 100k ENIs in one subnet is beyond any real subnet
            kwargs: dict[str, Any] = {
                "Filters": [{"Name": "subnet-id", "Values": subnet_ids}],
                "MaxResults": 1000,
            }
            if token:
                kwargs["NextToken"] = token
            page, token = self.call(
                "DescribeNetworkInterfaces",
                subnet_id,
                deadline,
                lambda kw=kwargs: _page(  # type: ignore[misc]
                    self.client.describe_network_interfaces(**kw), "NetworkInterfaces", _parse_eni
                ),
            )
            enis.extend(page)
            if not token:
                break
        return enis

    def describe_vpc_route_tables(
        self, vpc_ids: list[str], deadline: Deadline
    ) -> dict[str, RouteTable]:
        """Every route table of the VPCs in one call; the caller selects."""
        vpc_id = ",".join(vpc_ids)
        tables: dict[str, RouteTable] = {}
        token: str | None = None
        for _ in range(100):
            kwargs: dict[str, Any] = {
                "Filters": [{"Name": "vpc-id", "Values": vpc_ids}],
                "MaxResults": 100,
            }
            if token:
                kwargs["NextToken"] = token
            page, token = self.call(
                "DescribeRouteTables",
                vpc_id,
                deadline,
                lambda kw=kwargs: _page(  # type: ignore[misc]
                    self.client.describe_route_tables(**kw), "RouteTables", _parse_table
                ),
            )
            tables.update((t.table_id, t) for t in page)
            if not token:
                break
        return tables

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
        itype = self.call(
            "DescribeInstances",
            instance,
            deadline,
            lambda: c.describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0][
                "InstanceType"
            ],
        )
        limit = self.call(
            "DescribeInstanceTypes",
            itype,
            deadline,
            lambda: c.describe_instance_types(InstanceTypes=[itype])["InstanceTypes"][0][
                "NetworkInfo"
            ]["Ipv4AddressesPerInterface"],
        )
        return str(itype), int(limit)

    def describe_subnet(self, subnet_id: str, deadline: Deadline) -> Subnet:
        try:
            return self.call(
                "DescribeSubnets",
                subnet_id,
                deadline,
                lambda: _parse_subnet(
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
                page, _ = self.call(
                    "DescribeRouteTables",
                    ",".join(ids),
                    deadline,
                    lambda: _page(
                        self.client.describe_route_tables(RouteTableIds=ids),
                        "RouteTables",
                        _parse_table,
                    ),
                )
            except PermanentError as err:
                raise self._config_error(err) from err
        else:
            subnets = sorted(set(subnet_ids or []))
            page, _ = self.call(
                "DescribeRouteTables",
                ",".join(subnets),
                deadline,
                lambda: _page(
                    self.client.describe_route_tables(
                        Filters=[{"Name": "association.subnet-id", "Values": subnets}]
                    ),
                    "RouteTables",
                    _parse_table,
                ),
            )
        return {t.table_id: t for t in page}

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
                        _parse_address, self.client.describe_addresses(**kwargs)["Addresses"]
                    )
                },
            )
        except PermanentError as err:
            raise self._config_error(err) from err
        missing = [i for i in ids if i not in found]
        if missing and not missing_ok:
            raise ConfigError(f"{', '.join(missing)} does not exist (InvalidAllocationID.NotFound)")
        return found

    # --- writes --------------------------------------------------------------------------

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
