"""What this node is at the agent's start: keepalived puts the VIPs on the master's interface,
so a VIP present means MASTER. A routes-only instance has nothing to look at: its last state
is in the sequence file (tmpfs: kept across an agent restart, gone after a reboot)."""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable, Mapping

from awsfailover.agent.ordering import Ordering
from awsfailover.agent.worker import InstanceWorker
from awsfailover.core.spec import InstanceSpec
from awsfailover.failover.sequence import format_stamp
from awsfailover.keepalived.protocol import Transition

__all__ = ["AddressSource", "detect_startup_state", "interface_addresses"]

log = logging.getLogger(__name__)

AddressSource = Callable[[str], set[str]]


def interface_addresses(interface: str) -> set[str]:
    """Addresses on an OS interface (keepalived puts the VIPs on the master's interface)."""
    try:
        out = subprocess.run(
            ["ip", "-j", "addr", "show", "dev", interface],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("cannot read addresses of %s: %s", interface, exc)
        return set()
    addrs = set()
    for link in json.loads(out or "[]"):
        for a in link.get("addr_info", []):
            if "local" in a:
                addrs.add(str(a["local"]))
    return addrs


def detect_startup_state(
    specs: list[InstanceSpec],
    node_interface: str,
    addresses: AddressSource,
    workers: Mapping[str, InstanceWorker],
    ordering: Ordering,
) -> None:
    seen: dict[str, set[str]] = {}
    for inst in specs:
        interface = inst.interface or node_interface
        if interface not in seen:
            seen[interface] = addresses(interface)
        present = seen[interface]
        rec = ordering.sequences(inst.name).current()
        if rec is not None:
            # what was recorded before we started is known, not news to follow later
            workers[inst.name].stamp = rec.stamp
        if not inst.vips:
            if rec is not None and rec.state == "MASTER":
                log.info(
                    "%s: last keepalived state MASTER (%s): resuming",
                    inst.name,
                    format_stamp(rec.stamp),
                )
                ordering.follow(inst.name, "MASTER", rec.stamp, "resume")
            else:
                log.info(
                    "%s: no VIP to detect mastership from and no recorded MASTER; "
                    "waiting for keepalived",
                    inst.name,
                )
            continue
        if set(inst.vips) & present:
            log.info("%s: VIP present on %s at start: this node is MASTER", inst.name, interface)
            ordering.dispatch(Transition("INSTANCE", inst.name, "MASTER"), "startup")
        else:
            log.info("%s: VIP not on %s at start: not master", inst.name, interface)
