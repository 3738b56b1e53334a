"""Prometheus metrics for the agent. The registry is injected (tests use a fresh one)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from awsfailover.core.items import KINDS, Item

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

STATES = ("UNKNOWN", "MASTER", "BACKUP", "FAULT", "STOP", "DELETED")


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.registry = registry
        self.vrrp_state = Gauge(
            "awsfailover_vrrp_state",
            "1 for the VRRP state keepalived last reported",
            ["instance", "state"],
            registry=registry,
        )
        self.takeovers = Counter(
            "awsfailover_takeovers_total",
            "Takeovers by result (converged, noop, partial, failed, superseded)",
            ["instance", "result"],
            registry=registry,
        )
        self.takeover_seconds = Histogram(
            "awsfailover_takeover_duration_seconds",
            "Wall time of takeovers that moved something",
            ["instance"],
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 13, 30),
        )
        self.api_calls = Counter(
            "awsfailover_ec2_api_calls_total",
            "EC2 API attempts by operation and outcome",
            ["operation", "outcome"],
            registry=registry,
        )
        self.api_latency = Histogram(
            "awsfailover_ec2_api_latency_seconds",
            "EC2 API attempt latency",
            ["operation"],
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5),
        )
        self.api_retries = Counter(
            "awsfailover_ec2_api_retries_total",
            "EC2 API retries by operation and error code",
            ["operation", "code"],
            registry=registry,
        )
        self.drift_repairs = Counter(
            "awsfailover_drift_repairs_total",
            "Reconcile cycles that found drift and repaired it",
            ["instance"],
            registry=registry,
        )
        self.damped = Counter(
            "awsfailover_takeovers_damped_total",
            "Takeovers refused because the instance moved too often (split brain suspected)",
            ["instance"],
            registry=registry,
        )
        self.split_brain = Gauge(
            "awsfailover_split_brain",
            "1 while takeovers of the instance are being damped, or refused because another "
            "node keeps renewing the arbiter's lease",
            ["instance"],
            registry=registry,
        )
        self.lease_held = Gauge(
            "awsfailover_lease_held",
            "1 while this node holds the instance's arbiter lease",
            ["instance"],
            registry=registry,
        )
        self.lease_token = Gauge(
            "awsfailover_lease_token",
            "The fencing token of the lease this node last took",
            ["instance"],
            registry=registry,
        )
        self.arbiter_unreachable = Counter(
            "awsfailover_arbiter_unreachable_total",
            "Takeovers that met an arbiter table that did not answer (moved without the "
            "lease under on_unreachable = act, nothing under hold)",
            ["instance"],
            registry=registry,
        )
        self.events = {
            outcome: Counter(
                f"awsfailover_events_{outcome}_total",
                f"Events {outcome} by the configured sink (webhook, sns, eventbridge)",
                ["sink"],
                registry=registry,
            )
            for outcome in ("sent", "failed", "dropped")
        }
        self.keepalived_up = Gauge(
            "awsfailover_keepalived_up",
            "1 while keepalived's pid file names a running keepalived, 0 once it is gone (the "
            "agent then repairs nothing); absent until keepalived is first seen",
            registry=registry,
        )
        self.last_reconcile = Gauge(
            "awsfailover_last_reconcile_success_timestamp_seconds",
            "Unix time of the last reconcile whose Describe calls succeeded",
            registry=registry,
        )
        self.items_here = Gauge(
            "awsfailover_items_on_this_node",
            "VIPs, Elastic IPs and routes of the instance on this node's ENI at the last "
            "reconcile, against the instance's total (alert when the MASTER's is below it)",
            ["instance", "kind"],
            registry=registry,
        )
        self.items_total = Gauge(
            "awsfailover_items",
            "VIPs, Elastic IPs and routes the instance converges, at the last reconcile",
            ["instance", "kind"],
            registry=registry,
        )
        self.handoffs = Counter(
            "awsfailover_transitions_total",
            "keepalived transitions received, by source",
            ["source"],
            registry=registry,
        )
        self.input_errors = Counter(
            "awsfailover_input_errors_total",
            "Inputs (FIFO lines, hand-offs, reconciles) that failed unexpectedly; the agent "
            "logged each and went on",
            ["input"],
            registry=registry,
        )
        self._lock = threading.Lock()
        self.last_ec2_error: str | None = None

    # CallObserver, for aws.Ec2
    def api_call(self, operation: str, outcome: str, seconds: float) -> None:
        self.api_calls.labels(operation, outcome).inc()
        self.api_latency.labels(operation).observe(seconds)
        with self._lock:
            if outcome == "ok":
                self.last_ec2_error = None
            elif outcome in ("transient", "throttled"):
                self.last_ec2_error = outcome

    def api_retry(self, operation: str, code: str) -> None:
        self.api_retries.labels(operation, code).inc()

    def set_items(self, instance: str, here: set[Item], total: list[Item]) -> None:
        for kind in KINDS:
            self.items_here.labels(instance, kind).set(sum(i.kind == kind for i in here))
            self.items_total.labels(instance, kind).set(sum(i.kind == kind for i in total))

    def set_state(self, instance: str, state: str) -> None:
        for s in STATES:
            self.vrrp_state.labels(instance, s).set(1 if s == state else 0)
