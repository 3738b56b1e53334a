"""keepalived.conf for one node: unicast VRRP per configured instance, notify wiring to the
hook (and the agent's FIFO), and the health checks. Pure: text in, text out."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from awsfailover.config import Settings


@dataclass(frozen=True)
class NodeVrrp:
    self_ip: str
    peers: tuple[str, ...]
    priority: int = 100
    advert_int: float = 1.0
    use_agent: bool = False
    nopreempt: bool = False
    vrid_base: int = 51
    script_user: str = "root"

    def __post_init__(self) -> None:
        problems = []
        for ip in (self.self_ip, *self.peers):
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                problems.append(f"{ip!r} is not an IP address")
        if not self.peers:
            problems.append("at least one --peer is needed (VRRP is unicast in a VPC)")
        if self.self_ip in self.peers:
            problems.append("--self must not be one of the peers")
        if not 1 <= self.priority <= 254:
            problems.append("--priority must be 1..254 (255 is reserved for the address owner)")
        if not 0.01 <= self.advert_int <= 255:
            problems.append("--advert-int must be 0.01..255 seconds")
        if not 1 <= self.vrid_base <= 255:
            problems.append("--vrid must be 1..255")
        if problems:
            raise ValueError("; ".join(problems))


def _quote(words: list[str]) -> str:
    # keepalived splits a quoted script string on spaces; our paths must not hold any.
    for w in words:
        if any(c.isspace() or c in "\"'" for c in w):
            raise ValueError(f"path {w!r} contains spaces or quotes: keepalived cannot run it")
    return '"' + " ".join(words) + '"'


def render(settings: Settings, node: NodeVrrp, executable: Path, config_path: Path) -> str:
    if not settings.instances:
        raise ValueError("the config has no [[instances]] to render")
    if settings.node.interface == "lo":
        raise ValueError("node.interface is lo: keepalived cannot run VRRP on a loopback interface")
    if node.vrid_base + len(settings.instances) - 1 > 255:
        raise ValueError("too many instances for --vrid: virtual_router_id must stay <= 255")
    base = [str(executable), "--config", str(config_path)]
    iface = settings.node.interface
    out = [
        "# keepalived.conf rendered by `awsfailover keepalived-config`; edit the awsfailover",
        "# config and re-render rather than editing this file.",
        "global_defs {",
        "    # Scripts run as this user, and keepalived refuses scripts a non-root user could",
        "    # modify (script or any parent directory writable by others).",
        "    enable_script_security",
        f"    script_user {node.script_user}",
    ]
    if node.use_agent:
        fifo = settings.agent.fifo or Path("/run/awsfailover/notify.fifo")
        out += [
            "    # The agent reads every transition from this FIFO (agent.fifo).",
            f"    vrrp_notify_fifo {fifo}",
        ]
    out += [
        "}",
        "",
        "# Fails while `awsfailover maintenance on` is in effect: the instance goes to FAULT and",
        "# a MASTER resigns at once, so the peer takes over without the master-down delay.",
        "vrrp_script awsfailover_maintenance {",
        f"    script {_quote([*base, 'keepalived-check', 'maintenance'])}",
        "    interval 1",
        "    timeout 2",
        "    fall 1",
        "    rise 1",
        "}",
    ]
    if node.use_agent:
        out += [
            "",
            "# The agent's /healthz: a node whose agent is unhealthy is a worse MASTER (the hook",
            "# still works without it), so it loses priority rather than going to FAULT.",
            "vrrp_script awsfailover_agent {",
            f"    script {_quote([*base, 'keepalived-check', 'agent'])}",
            "    interval 2",
            "    timeout 2",
            "    fall 2",
            "    rise 1",
            "    weight -50",
            "}",
        ]
    for i, inst in enumerate(settings.instances):
        out += [
            "",
            f"vrrp_instance {inst.name} {{",
            "    state BACKUP",
            f"    interface {iface}",
            f"    virtual_router_id {node.vrid_base + i}",
            f"    priority {node.priority}",
            f"    advert_int {node.advert_int:g}",
        ]
        if node.advert_int != int(node.advert_int):
            out.append("    version 3  # VRRPv2 adverts are whole seconds; v3 has centiseconds")
        if node.nopreempt:
            out.append("    nopreempt")
        out += [
            "    # A VPC carries no multicast: VRRP goes to each peer; the security group must",
            "    # allow IP protocol 112 between them.",
            f"    unicast_src_ip {node.self_ip}",
            "    unicast_peer {",
            *(f"        {p}" for p in node.peers),
            "    }",
        ]
        # An instance's VRRP family is that of its unicast addresses; VIPs of the other family
        # must sit in virtual_ipaddress_excluded (still added and removed, not advertised).
        family = ipaddress.ip_address(node.self_ip).version
        same = [v for v in inst.vips if ipaddress.ip_address(v).version == family]
        other = [v for v in inst.vips if ipaddress.ip_address(v).version != family]
        for block, vips in (("virtual_ipaddress", same), ("virtual_ipaddress_excluded", other)):
            if vips:
                out.append(f"    {block} {{")
                for v in vips:
                    plen = 32 if ipaddress.ip_address(v).version == 4 else 128
                    out.append(f"        {v}/{plen} dev {iface}")
                out.append("    }")
        out += [
            "    track_script {",
            "        awsfailover_maintenance",
            *(["        awsfailover_agent"] if node.use_agent else []),
            "    }",
            "    # keepalived appends TYPE NAME STATE PRIORITY. With the agent running, the hook",
            "    # hands over in milliseconds; without it, the hook does the work itself.",
            f"    notify {_quote([*base, 'notify'])}",
            "}",
        ]
    return "\n".join(out) + "\n"
