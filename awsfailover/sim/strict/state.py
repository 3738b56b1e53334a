"""The strict double's shared state: the knobs tests turn (SimState), the history behind the
lagging metadata view, moto's original methods, and the helpers every patch uses."""

from __future__ import annotations

import ipaddress
import threading
import time
from dataclasses import dataclass
from typing import Any

lock = threading.RLock()


@dataclass
class SimState:
    move_delay: float = 0.0
    # AWS does not document the code AssignIpv6Addresses answers while the address is still
    # held (being released) elsewhere; InvalidIPAddress.InUse is what EC2 answers for a
    # private address in use. Tests run the move against both.
    ipv6_in_use_code: str = "InvalidIPAddress.InUse"
    # AWS: a moved address shows in the new owner's instance metadata (local-ipv4s, ipv6s)
    # some time after the API shows it; the two views lag independently ("Multiple IP
    # addresses", EC2 User Guide: confirm in metadata). Seconds the metadata view trails.
    metadata_delay: float = 0.0


# ENI id -> [(monotonic time, IPv4 addresses, IPv6 addresses)], appended on every change the
# API view makes; the metadata view answers from it, metadata_delay seconds behind.
_HISTORY: dict[str, list[tuple[float, tuple[str, ...], tuple[str, ...]]]] = {}


def addresses(eni: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    v4 = tuple(a["PrivateIpAddress"] for a in eni.private_ip_addresses)
    return v4, tuple(sorted(norm6(eni.ipv6_addresses)))


def seen(*enis: Any) -> None:
    """Record the API view of enis now (called before and after each change)."""
    now = time.monotonic()
    for eni in enis:
        hist = _HISTORY.setdefault(eni.id, [])
        v4, v6 = addresses(eni)
        if not hist or hist[-1][1:] != (v4, v6):
            hist.append((0.0 if not hist else now, v4, v6))


def metadata_addresses(eni: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the owner's instance metadata says: the API view metadata_delay seconds ago."""
    with lock:
        hist = _HISTORY.get(eni.id)
        if not hist:
            return addresses(eni)
        cutoff = time.monotonic() - STATE.metadata_delay
        past = [h for h in hist if h[0] <= cutoff]
        _, v4, v6 = past[-1] if past else hist[0]
        return v4, v6


STATE = SimState()


def err(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


def later(fn: Any) -> None:
    """Apply fn now, or after the configured move delay (AWS's asynchronous confirmation)."""

    def locked() -> None:
        with lock:
            fn()

    if STATE.move_delay <= 0:
        locked()
        return
    t = threading.Timer(STATE.move_delay, locked)
    t.daemon = True
    t.start()


def all_enis(backend: Any) -> list[Any]:
    return list(backend.enis.values())


def reserved(eni: Any, ip: str) -> bool:
    """AWS reserves the first four addresses and the last one of every subnet CIDR, IPv4 and
    IPv6 ("Subnet CIDR blocks", Amazon VPC User Guide): EC2 never assigns them; moto does."""
    addr = ipaddress.ip_address(ip)
    cidrs = (
        [eni.subnet.cidr_block]
        if addr.version == 4
        else [a.get("ipv6CidrBlock") for a in eni.subnet.ipv6_cidr_block_associations.values()]
    )
    for cidr in filter(None, cidrs):
        net = ipaddress.ip_network(cidr)
        if addr in net:
            offset = int(addr) - int(net.network_address)
            return offset < 4 or addr == net.broadcast_address
    return False


def ipv4_in_subnet(eni: Any, ip: str) -> bool:
    return ipaddress.ip_address(ip) in ipaddress.ip_network(eni.subnet.cidr_block)


def ipv6_in_subnet(eni: Any, ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    for assoc in eni.subnet.ipv6_cidr_block_associations.values():
        cidr = assoc.get("ipv6CidrBlock")
        if cidr and addr in ipaddress.ip_network(cidr):
            return True
    return False


def norm6(addrs: list[str]) -> set[str]:
    return {str(ipaddress.ip_address(a)) for a in addrs}


ORIG: dict[str, Any] = {}


def eip_private(eip: Any) -> str | None:
    if eip.eni is None:
        return None
    private: str | None = getattr(eip, "sim_private_ip", None) or eip.eni.private_ip_address
    return private
