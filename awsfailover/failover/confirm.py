"""Confirming a takeover: poll until the asynchronous moves show up, through the API and then
in this instance's metadata, where AWS documents a moved address as confirmed.

Bounded by the takeover's deadline, and past it by a grace period only: an unconfirmed success
would be reported as a failure, but no takeover may run on for long.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from awsfailover.core.backoff import CONFIRM, METADATA, Backoff
from awsfailover.core.deadline import Deadline
from awsfailover.core.items import Item
from awsfailover.core.model import Observed
from awsfailover.core.plan import items_at
from awsfailover.core.plan import plan as make_plan
from awsfailover.core.spec import InstanceSpec
from awsfailover.errors import AwsError

if TYPE_CHECKING:
    from awsfailover.aws.imds import Imds

__all__ = ["METADATA_TIMEOUT", "REPLAN_AFTER", "Confirmer"]

log = logging.getLogger(__name__)

REPLAN_AFTER = 1.0  # seconds of confirming before acting again on what is still not ours
METADATA_TIMEOUT = 0.3  # seconds per IMDS request: on the same host it answers in ~1 ms


class Confirmer:
    def __init__(
        self,
        observe: Callable[[InstanceSpec, Deadline], Observed],
        eni_of: Callable[[InstanceSpec], str],
        remember: Callable[[str, Observed], Observed] = lambda _name, observed: observed,
    ) -> None:
        self.observe = observe
        self.eni_of = eni_of
        self.remember = remember  # what metadata confirmed is the next act-first's knowledge
        self._macs: dict[str, str | None] = {}  # ENI -> its MAC in instance metadata
        self._imds: Imds | Literal[False] | None = None

    def not_in_metadata(
        self, eni_id: str, inst: InstanceSpec, moved: set[Item], until: Deadline
    ) -> set[Item]:
        """AWS documents instance metadata on the new owner as where a moved address is
        confirmed, and it lags the API: poll local-ipv4s/ipv6s of our MAC until every VIP we
        moved is there, bounded by the confirmation deadline. The items still missing; none
        when this node has no instance metadata (not on EC2, or IMDS blocked)."""
        vips = {i.key for i in moved if i.kind == "vip"}
        backoff = Backoff(METADATA)
        while vips:
            seen = self._metadata_addresses(eni_id)
            if seen is None:
                return set()
            missing = vips - seen
            if not missing:
                return set()
            if not backoff.fits(until):
                log.error(
                    "%s: %s not in this node's instance metadata yet",
                    inst.name,
                    ", ".join(sorted(missing)),
                )
                return {Item.vip(v) for v in missing}
            backoff.sleep()
        return set()

    def in_metadata_now(self, inst: InstanceSpec, observed: Observed) -> Observed | None:
        """An instance of VIPs only (no routes, no Elastic IPs) is confirmed where AWS
        documents a moved address as confirmed: once this instance's metadata shows every VIP
        on our ENI (an address is on one ENI at a time), no Describe has to show it too.
        One look, no waiting (metadata lags the API: the caller still polls the API); the
        observation with every VIP ours, or None."""
        ours = observed.local.eni_id
        if inst.routes or inst.eips or not inst.vips or ours != self.eni_of(inst):
            return None
        seen = self._metadata_addresses(ours)
        if seen is None or not {str(ipaddress.ip_address(v)) for v in inst.vips} <= seen:
            return None
        # as a Describe would show it: the VIPs on our ENI, and held by it
        local = observed.local
        local = dataclasses.replace(
            local,
            private_ipv4s=(
                *local.private_ipv4s,
                *(v for v in inst.ipv4_vips if v not in local.private_ipv4s),
            ),
            ipv6s=(*local.ipv6s, *(v for v in inst.ipv6_vips if v not in local.ipv6s)),
        )
        holders = {**observed.holders, **dict.fromkeys(inst.vips, local)}
        return self.remember(inst.name, dataclasses.replace(observed, local=local, holders=holders))

    def _metadata_addresses(self, eni_id: str) -> set[str] | None:
        """eni_id's addresses in this instance's metadata, or None when there is no metadata
        to ask (decided once per engine: a node without IMDS must not pay for it every
        takeover). The MAC is found by ENI, not by OS interface: on a multi-NIC node each
        instance confirms on its own ENI."""
        if self._imds is False:
            return None
        from awsfailover.aws.imds import Imds
        from awsfailover.errors import MetadataError

        try:
            if self._imds is None:
                self._imds = Imds(timeout=METADATA_TIMEOUT)
            imds = self._imds
            if eni_id not in self._macs:
                self._macs[eni_id] = imds.mac_for_eni(eni_id)
            mac = self._macs[eni_id]
            if mac is None:
                log.info("%s is not an ENI of this instance in its metadata", eni_id)
                return None
            base = f"network/interfaces/macs/{mac}/"
            v4 = imds.get(base + "local-ipv4s").split()
            v6 = imds.get(base + "ipv6s", missing_ok=True).split()
        except MetadataError as exc:
            log.info("instance metadata unavailable (%s): confirming through the API only", exc)
            self._imds = False
            return None
        return {str(ipaddress.ip_address(a)) for a in (*v4, *v6)}

    def confirm(
        self,
        inst: InstanceSpec,
        deadline: Deadline,
        grace: Deadline,
        want: set[Item] | None,
        wait: bool,
        *,
        surprise: Callable[[Observed], bool] | None = None,
        planned_on: Observed | None = None,
    ) -> Observed | None:
        """Poll until the asynchronous moves show up (the whole plan converged, or the items
        in want are ours), with backoff, bounded by the deadline (by the grace period once
        the deadline has passed). planned_on: the observation the plan was made on; with it,
        an instance of VIPs only is confirmed in instance metadata when it shows them first."""
        backoff = Backoff(CONFIRM)
        last: Observed | None = None
        # With nothing failed, come back after REPLAN_AFTER so the caller can act again on
        # what is still not ours; with a failure there is no next round: wait it out.
        replan_at = time.monotonic() + (REPLAN_AFTER if want is None else deadline.seconds)
        while True:
            if want is None and planned_on is not None:
                seen = self.in_metadata_now(inst, planned_on)
                if seen is not None:
                    return seen  # confirmed in instance metadata: no Describe needed
            try:
                last = self.observe(inst, deadline if not deadline.expired() else grace)
            except AwsError as exc:
                log.warning("%s: confirmation describe failed: %s", inst.name, exc)
            if last is not None and (
                make_plan(inst, last).converged
                if want is None
                else want <= items_at(inst, last, self.eni_of(inst))
            ):
                return last
            if last is not None and surprise is not None and surprise(last):
                return last  # not a slow move: something we did not act on; act again now
            if not wait or not backoff.fits(deadline) or time.monotonic() >= replan_at:
                return last
            backoff.sleep()
