"""The engine's thread pool, and a wait on one of its calls bounded by the takeover's deadline.

A call stuck on an endpoint that trickles its answer must not hold a takeover past its
deadline: waits end at the deadline plus WAIT_GRACE (measured from the deadline, so waits in
a row do not add up), and the retry loop's own last error, if it comes in that grace, says
more than a timeout would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from awsfailover.core.deadline import Deadline
from awsfailover.errors import TransientError

__all__ = ["WAIT_GRACE", "Calls"]

T = TypeVar("T")
WAIT_GRACE = 0.2  # seconds a call's result is awaited past the deadline


class Calls:
    def __init__(self, workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ec2")

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return self._pool.submit(fn, *args, **kwargs)

    @staticmethod
    def wait(fut: Future[T], deadline: Deadline, what: str) -> T:
        """A result within the deadline (plus WAIT_GRACE), or a transient error."""
        try:
            left = deadline.end + WAIT_GRACE - time.monotonic()
            return fut.result(timeout=max(0.0, left))
        except FutureTimeout:
            fut.cancel()
            raise TransientError(
                what, "DeadlineExceeded", "no answer within the deadline"
            ) from None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def closed(self) -> bool:
        return bool(self._pool._shutdown)
