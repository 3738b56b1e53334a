"""One backoff for every wait loop, with its numbers named here. Pure (stdlib time only).

A loop that waits for EC2 to catch up (an address still being released, a move not yet
visible) sleeps `delay`, doubles it up to `cap`, and stops when the deadline has no room left
for the next sleep: the caller then reports what it saw last, never spins past its deadline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from awsfailover.core.deadline import Deadline

__all__ = [
    "ASSOCIATE",
    "CONFIRM",
    "IPV6_ASSIGN",
    "LOCK_WAIT",
    "METADATA",
    "Backoff",
    "Policy",
]


@dataclass(frozen=True)
class Policy:
    first: float  # seconds before the second attempt
    cap: float  # the longest sleep
    factor: float = 2.0


# AssociateAddress right after the VIP it maps to moved: EC2 catches up within ~100 ms.
ASSOCIATE = Policy(first=0.05, cap=0.25)
# AssignIpv6Addresses while the old holder releases: retried tightly, the gap is the outage.
IPV6_ASSIGN = Policy(first=0.02, cap=0.25)
# A moved address showing up in this instance's metadata, which lags the API.
METADATA = Policy(first=0.05, cap=0.5)
# Describe calls confirming a takeover: every poll costs a round of API calls.
CONFIRM = Policy(first=0.05, cap=1.0)
# An instance's lock held by an older takeover on this node, checked for being overtaken.
LOCK_WAIT = Policy(first=0.005, cap=0.1)


class Backoff:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.delay = policy.first

    def fits(self, deadline: Deadline) -> bool:
        """Whether the next sleep ends before the deadline."""
        return deadline.remaining() >= self.delay

    def sleep(self) -> None:
        time.sleep(self.delay)
        self.delay = min(self.delay * self.policy.factor, self.policy.cap)
