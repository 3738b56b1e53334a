"""Error classes. Pure: aws.classify is the one place botocore errors become these.

Exit codes follow from the class: ConfigError -> 2, anything else that stops a takeover -> 1.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_NOT_CONVERGED = 3  # status: an instance is split across ENIs, or has a problem

# Codes AWS documents as "try again": throttling, and the service's own trouble.
TRANSIENT_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "EC2ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
THROTTLE_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "EC2ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
    }
)


# DynamoDB's answer to a conditional write whose condition does not hold (HTTP 400)
CONDITION_FAILED = "ConditionalCheckFailedException"


class AwsFailoverError(Exception):
    """Base class: the message is the one line an operator reads."""

    exit_code = EXIT_FAILED


class ConfigError(AwsFailoverError):
    """Bad configuration or usage, including a configured resource that does not exist."""

    exit_code = EXIT_CONFIG


class MetadataError(AwsFailoverError):
    """Instance metadata unreachable or incomplete (IMDSv2 hop limit, wrong endpoint...)."""

    exit_code = EXIT_CONFIG


class Superseded(AwsFailoverError):
    """A newer keepalived transition for the same instance took over this one."""

    exit_code = EXIT_OK


class LeaseLost(Superseded):
    """The arbiter's lease for this instance is no longer ours (another node took it, or our
    renewals failed for a ttl under on_unreachable = "hold"): stop before the next call."""

    exit_code = EXIT_FAILED


class LeaseRefused(AwsFailoverError):
    """The arbiter's lease could not be taken (another node renews it, or the table did not
    answer under on_unreachable = "hold"): nothing was moved."""

    def __init__(self, message: str, holder: str | None = None) -> None:
        self.holder = holder
        super().__init__(message)


# What an operator should do about an error AWS names precisely.
HINTS = {
    "PrivateIpAddressLimitExceeded": "the instance type allows no more addresses on this ENI: "
    "free secondary addresses or use a larger type (`awsfailover doctor` checks ip-room)",
    "UnauthorizedOperation": "the role lacks the action: `awsfailover check-iam` says which",
}


class AwsError(AwsFailoverError):
    def __init__(self, operation: str, code: str, message: str, resource: str = "") -> None:
        self.operation = operation
        self.code = code
        self.resource = resource
        where = f" on {resource}" if resource else ""
        hint = f" ({HINTS[code]})" if code in HINTS else ""
        super().__init__(f"{operation}{where}: {code}: {message}{hint}")


class TransientError(AwsError):
    """A retry may help (throttling, 5xx, timeouts, dropped connections)."""

    @property
    def throttled(self) -> bool:
        return self.code in THROTTLE_CODES


class PermanentError(AwsError):
    """A retry will not help (authorisation, missing resource, invalid parameter)."""


class FailoverIncomplete(AwsFailoverError):
    """The takeover ran but not everything moved; the message lists what did not."""
