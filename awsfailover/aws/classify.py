"""The one place a botocore exception is classified: TransientError (a retry may help) or
PermanentError (it will not). Every AWS call in the aws package raises through here."""

from __future__ import annotations

from typing import Any

from awsfailover.errors import TRANSIENT_CODES, AwsError, PermanentError, TransientError

__all__ = ["classify"]


def classify(exc: BaseException, operation: str, resource: str = "") -> AwsError:
    """Map a botocore exception to TransientError or PermanentError."""
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        HTTPClientError,
        ReadTimeoutError,
    )
    from botocore.parsers import ResponseParserError

    if isinstance(exc, ClientError):
        err: Any = exc.response.get("Error", {})
        code = str(err.get("Code", "Unknown"))
        message = str(err.get("Message", "")).strip() or str(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in TRANSIENT_CODES or status >= 500:
            return TransientError(operation, code, message, resource)
        return PermanentError(operation, code, message, resource)
    if isinstance(
        exc,
        (
            ConnectTimeoutError,
            ReadTimeoutError,
            EndpointConnectionError,
            ConnectionClosedError,
            HTTPClientError,
            ConnectionError,
            TimeoutError,
        ),
    ):
        return TransientError(operation, type(exc).__name__, str(exc), resource)
    if isinstance(exc, (ResponseParserError, KeyError, IndexError, TypeError, ValueError)):
        # An answer we could not read (a proxy's page, a truncated body, a missing field):
        # the next answer may be whole. Raised while parsing inside the retried attempt.
        return TransientError(operation, "MalformedResponse", _short(exc), resource)
    return PermanentError(operation, type(exc).__name__, str(exc), resource)


def _short(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 200 else text[:197] + "..."
