"""botocore clients, built one way: EC2 with the failover's timeouts and botocore's own
retries off (aws.retry retries, within the deadline), IAM and STS for the preflight tools.
botocore directly: boto3's resource layer is never used and costs import time in the hook.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from awsfailover.aws.classify import classify
from awsfailover.errors import AwsError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

__all__ = [
    "CallCounter",
    "CallObserver",
    "call_once",
    "make_client",
    "make_ec2_client",
    "one_attempt_client",
]

T = TypeVar("T")


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
    client = one_attempt_client(
        "ec2",
        region,
        endpoint_url,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
    )
    return cast("EC2Client", client)


def one_attempt_client(
    service: str,
    region: str,
    endpoint_url: str | None = None,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_pool_connections: int = 10,
) -> Any:
    """A client on the failover path: its timeouts, and botocore's retries off (whoever
    calls it retries, or decides what a failure means, within its own deadline)."""
    import botocore.session
    from botocore.config import Config

    cfg = Config(
        region_name=region,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )
    session = botocore.session.get_session()
    return session.create_client(service, endpoint_url=endpoint_url, config=cfg)


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
