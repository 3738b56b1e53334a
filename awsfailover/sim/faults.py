"""Fault injection for the local endpoint: latency, EC2's token buckets, throttling, 5xx, drops.

A WSGI middleware in front of moto. Faults apply to EC2 requests; DynamoDB (the arbiter's
table) has two of its own; IAM and STS have other limits and are not on the failover path.
Every EC2 request is counted by action and outcome, so tests can assert "zero mutating calls"
against what the server saw; DynamoDB requests are counted as dynamodb:<Operation>.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import socket
import threading
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
App = Callable[[Environ, StartResponse], Iterable[bytes]]

# (burst, refill per second), per API, from the EC2 API throttling documentation.
_DESCRIBE = (100.0, 20.0)
_DESCRIBE_ENI_UNFILTERED = (50.0, 10.0)
_MUTATING = (50.0, 5.0)
_ADDRESS = (100.0, 5.0)
_CIDR_RESERVATION = (5.0, 1.0)
_ADDRESS_ACTIONS = frozenset(
    {
        "AssignPrivateIpAddresses",
        "UnassignPrivateIpAddresses",
        "AssignIpv6Addresses",
        "ModifyNetworkInterfaceAttribute",
    }
)


def bucket_for(action: str, params: dict[str, list[str]]) -> tuple[str, tuple[float, float]]:
    # AWS throttles DescribeNetworkInterfaces "without filters" in a smaller bucket; the docs
    # ("Request throttling for the Amazon EC2 API") do not say whether a call by ENI id counts
    # as filtered. The endpoint assumes the worse: only Filter.* escapes the small bucket.
    if action == "DescribeNetworkInterfaces" and not any(k.startswith("Filter.") for k in params):
        return "DescribeNetworkInterfaces(unfiltered)", _DESCRIBE_ENI_UNFILTERED
    if action.startswith(("Describe", "Get", "List")):
        return action, _DESCRIBE
    if action in _ADDRESS_ACTIONS:
        return action, _ADDRESS
    if action == "CreateSubnetCidrReservation":
        return action, _CIDR_RESERVATION
    return action, _MUTATING


class TokenBucket:
    def __init__(self, burst: float, refill: float) -> None:
        self.burst = burst
        self.refill = refill
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Faults:
    latency: float = 0.0  # seconds added to every EC2 request
    latency_by_action: dict[str, float] = field(default_factory=dict)
    buckets: bool = False  # enforce EC2's documented token buckets
    bucket_scale: float = 1.0  # multiply burst and refill (tests shrink time, not shape)
    # The account's buckets are shared with every other client in the Region: the fraction
    # left to us (0.5: other clients consume half of each burst and of each refill).
    bucket_share: float = 1.0
    throttle_rate: float = 0.0  # fraction answered RequestLimitExceeded (on top of buckets)
    error_rate: float = 0.0  # fraction answered HTTP 500 InternalError
    drop_rate: float = 0.0  # fraction whose connection is closed without an answer
    actions: list[str] = field(default_factory=list)  # restrict random faults to these
    refuse: dict[str, str] = field(default_factory=dict)  # action -> permanent error code
    # action -> outcomes for its first calls, in order, then normal service: "dropped",
    # "applied-dropped" (the change is made, the answer lost), "html" (a proxy's 502 page),
    # "error", "throttled". Deterministic, for the retry paths that matter.
    script: dict[str, list[str]] = field(default_factory=dict)
    html_error_rate: float = 0.0  # fraction answered by a proxy's HTML 502 page
    seed: int | None = None
    # DynamoDB (the arbiter's table): seconds added before each request is served (a hanging
    # table, past the client's timeout), and an error code every request is answered with
    dynamodb_delay: float = 0.0
    dynamodb_error: str = ""

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Faults:
        known = set(cls.__dataclass_fields__)
        unknown = set(doc) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(sorted(unknown))}")
        return cls(**doc)


_ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>{rid}</RequestID></Response>"
)


MUTATING = frozenset(
    {
        "AssignPrivateIpAddresses",
        "AssignIpv6Addresses",
        "UnassignIpv6Addresses",
        "ReplaceRoute",
        "AssociateAddress",
    }
)
JOURNAL_SIZE = 100_000


class FaultMiddleware:
    def __init__(self, app: App) -> None:
        self.app = app
        self.faults = Faults()
        self._lock = threading.Lock()
        self._dynamodb_lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._rng = random.Random()
        self.calls: Counter[str] = Counter()  # "Action" -> attempts seen
        self.outcomes: Counter[str] = Counter()  # "Action:outcome"
        # Mutating calls as they arrived: (CLOCK_MONOTONIC, action, the ENI it names,
        # outcome). The clock is the machine's, so a test in another process can place these
        # among its own events; bounded, oldest dropped.
        self.journal: deque[tuple[float, str, str, str]] = deque(maxlen=JOURNAL_SIZE)

    def configure(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._buckets.clear()
            self._rng = random.Random(faults.seed)

    def reset_counts(self) -> None:
        with self._lock:
            self.calls.clear()
            self.outcomes.clear()
            self.journal.clear()

    def _decide(self, action: str, params: dict[str, list[str]]) -> str:
        f = self.faults
        with self._lock:
            self.calls[action] += 1
            scripted = f.script.get(action)
            if scripted:
                return scripted.pop(0)
            if f.buckets:
                name, (burst, refill) = bucket_for(action, params)
                b = self._buckets.get(name)
                if b is None:
                    share = f.bucket_scale * f.bucket_share
                    b = self._buckets[name] = TokenBucket(burst * share, refill * share)
                if not b.take():
                    return "throttled"
            if f.actions and action not in f.actions:
                return "ok"
            r = self._rng.random()
            if r < f.drop_rate:
                return "dropped"
            r -= f.drop_rate
            if r < f.throttle_rate:
                return "throttled"
            r -= f.throttle_rate
            if r < f.error_rate:
                return "error"
            r -= f.error_rate
            if r < f.html_error_rate:
                return "html"
            return "ok"

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        if "/dynamodb/aws4_request" in auth and environ.get("HTTP_X_SIM_OBSERVER") != "1":
            return self._dynamodb(environ, start_response)
        if "/ec2/aws4_request" not in auth or environ.get("HTTP_X_SIM_OBSERVER") == "1":
            # Not EC2, or the test harness observing the state: no faults, not counted.
            return self.app(environ, start_response)
        params = query_params(environ)
        action = (params.get("Action") or ["Unknown"])[0]

        delay = self.faults.latency_by_action.get(action, self.faults.latency)
        if delay > 0:
            time.sleep(delay)
        refused = self.faults.refuse.get(action)
        outcome = "refused" if refused else self._decide(action, params)
        with self._lock:
            self.outcomes[f"{action}:{outcome}"] += 1
            if action in MUTATING:
                eni = (params.get("NetworkInterfaceId") or [""])[0]
                self.journal.append((time.monotonic(), action, eni, outcome))
        if outcome == "applied-dropped":
            # The change is made and the answer lost (a reset after EC2 acted): the client
            # cannot tell this from "dropped", and its retry meets the changed state.
            b"".join(self.app(environ, lambda *_a, **_k: lambda _b: None))
            outcome = "dropped"
        if outcome == "dropped":
            sock = environ.get("werkzeug.socket")
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            raise ConnectionAbortedError("sim: dropped connection")
        if outcome == "html":
            body = b"<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body>"
            start_response(
                "502 Bad Gateway",
                [("Content-Type", "text/html"), ("Content-Length", str(len(body)))],
            )
            return [body]
        if outcome == "throttled":
            return ec2_error(
                start_response,
                "503 Service Unavailable",
                "RequestLimitExceeded",
                "Request limit exceeded.",
            )
        if refused:
            status = "403 Forbidden" if refused == "UnauthorizedOperation" else "400 Bad Request"
            return ec2_error(
                start_response, status, refused, f"sim: {action} refused with {refused}"
            )
        if outcome == "error":
            return ec2_error(
                start_response,
                "500 Internal Server Error",
                "InternalError",
                "An internal error has occurred.",
            )
        return self.app(environ, start_response)

    def _dynamodb(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """Counted as dynamodb:<Operation>; every request served one at a time, because
        DynamoDB applies conditional writes to an item atomically and moto checks a
        condition and writes in two steps that two threads could interleave."""
        target = str(environ.get("HTTP_X_AMZ_TARGET", "")).rpartition(".")[2] or "Unknown"
        with self._lock:
            self.calls[f"dynamodb:{target}"] += 1
            f = self.faults
        if f.dynamodb_delay > 0:
            time.sleep(f.dynamodb_delay)
        if f.dynamodb_error:
            body = json.dumps(
                {
                    "__type": f"com.amazonaws.dynamodb.v20120810#{f.dynamodb_error}",
                    "message": "sim: refused",
                }
            ).encode()
            status = (
                "400 Bad Request" if "Exceeded" in f.dynamodb_error else "500 Internal Server Error"
            )
            start_response(
                status,
                [
                    ("Content-Type", "application/x-amz-json-1.0"),
                    ("Content-Length", str(len(body))),
                ],
            )
            return [body]
        with self._dynamodb_lock:
            return list(self.app(environ, start_response))


def query_params(environ: Environ) -> dict[str, list[str]]:
    """The EC2 Query request's parameters; the body is put back for the next layer."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return urllib.parse.parse_qs(body.decode(), keep_blank_values=True)


def ec2_error(start_response: StartResponse, status: str, code: str, message: str) -> list[bytes]:
    """An error answer in EC2's XML shape (botocore parses the code out of it)."""
    rid = f"sim-{time.monotonic_ns():x}"
    body = _ERROR_XML.format(code=code, message=message, rid=rid).encode()
    start_response(status, [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]
