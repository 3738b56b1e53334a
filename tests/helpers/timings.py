"""Timings the end-to-end and Terraform tests measure; conftest prints them in pytest's summary
(on xdist, each worker hands its own to the controller)."""

from __future__ import annotations

E2E_TIMINGS: list[str] = []
TF_TIMINGS: dict[str, float] = {}
