"""The retry policy: Caller.call makes every EC2 call of the aws package but the dry runs (one
attempt each, aws.probe), classified and retried within its deadline.

Who retries: botocore's own retries are switched off (total_max_attempts=1) and tenacity
retries transient errors with exponential backoff and full jitter, bounded by the takeover's
deadline. Stacking both would multiply attempts (5 legacy x N ours) and blow the deadline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from awsfailover.aws.classify import classify
from awsfailover.aws.clients import CallCounter, CallObserver
from awsfailover.aws.parse import page
from awsfailover.core.deadline import Deadline
from awsfailover.errors import AwsError, ConfigError, PermanentError, TransientError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

__all__ = ["MAX_PAGES", "Caller", "ThrottleGate"]

log = logging.getLogger(__name__)

T = TypeVar("T")
P = TypeVar("P")
MAX_PAGES = 100  # bounded: 100 pages of 1000 ENIs is beyond any real subnet

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


class ThrottleGate:
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


class Caller:
    """An EC2 client with the retry policy. The client is injected."""

    def __init__(self, client: EC2Client, observer: CallObserver | None = None) -> None:
        self.client = client
        self.observer: CallObserver = observer or CallCounter()
        self._gates: dict[str, ThrottleGate] = {}
        self._gates_lock = threading.Lock()

    def _gate(self, operation: str) -> ThrottleGate:
        with self._gates_lock:
            gate = self._gates.get(operation)
            if gate is None:
                gate = self._gates[operation] = ThrottleGate()
            return gate

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
            codes[code] = codes.get(code, 0) + 1
            log.debug(
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
        codes: dict[str, int] = {}  # retries by error code: one summary line, not one per retry
        started = time.monotonic()
        try:
            return retrying(attempt)
        finally:
            if codes:
                log.info(
                    "%s on %s: %d %s in %.1fs (%s)",
                    operation,
                    resource or "-",
                    sum(codes.values()),
                    "retry" if sum(codes.values()) == 1 else "retries",
                    time.monotonic() - started,
                    ", ".join(f"{c} x{n}" if n > 1 else c for c, n in sorted(codes.items())),
                )

    def paged(  # noqa: PLR0917 - the call's own arguments, then what to read from each page
        self,
        operation: str,
        resource: str,
        deadline: Deadline,
        fetch: Callable[[dict[str, Any]], Any],
        key: str,
        parse: Callable[[Any], P],
    ) -> list[P]:
        """Every page of a listing, each page one retried call (fetch gets NextToken when
        there is one)."""

        def page_of(kwargs: dict[str, Any]) -> tuple[list[P], str | None]:
            return page(fetch(kwargs), key, parse)

        out: list[P] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            kwargs: dict[str, Any] = {"NextToken": token} if token else {}
            items, token = self.call(operation, resource, deadline, partial(page_of, kwargs))
            out.extend(items)
            if not token:
                break
        return out

    def _config_error(self, err: PermanentError) -> ConfigError | PermanentError:
        if err.code in _CONFIG_NOT_FOUND:
            return self.not_found(err.resource or err.operation, err.code)
        return err

    def not_found(self, what: str, code: str) -> ConfigError:
        """A resource the config names is not there: most often the wrong Region."""
        region = getattr(getattr(self.client, "meta", None), "region_name", None) or "?"
        return ConfigError(
            f"{what} does not exist in {region} ({code}); check region in the config"
        )
