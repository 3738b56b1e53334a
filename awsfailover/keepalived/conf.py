"""keepalived.conf for one node: unicast VRRP per configured instance, notify wiring to the
hook (and the agent's FIFO), and the health checks. Pure: text in, text out."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from awsfailover import defaults
from awsfailover.config.schema import Settings


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
    script_checks: bool = False  # vrrp_script checks, for keepalived without the trackers

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
        if not _USER_RE.match(self.script_user):
            problems.append(f"--script-user {self.script_user[:40]!r} is not a user name")
        if problems:
            raise ValueError("; ".join(problems))


_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# keepalived splits a quoted script string on spaces, and '#', '!' start comments, braces
# open and close blocks: a word holding any of them would change the file's meaning.
_UNSAFE = frozenset(" \t\n\r\v\f\"'#!{}\\")


def _word(w: str) -> str:
    if not w or any(c in _UNSAFE or not c.isprintable() for c in w):
        raise ValueError(
            f"{w[:80]!r} holds spaces, quotes, '#', '!' or braces: keepalived cannot use it"
        )
    return w


def _quote(words: list[str]) -> str:
    return '"' + " ".join(map(_word, words)) + '"'


def hook_command(executable: str | None, argv0: str, python: str) -> list[str]:
    """The command keepalived runs: --executable, else the `awsfailover` on PATH, else this
    interpreter with `-m awsfailover` (under `python -m`, argv[0] is a .py file keepalived
    cannot execute). Absolute and executable, or refused."""
    if executable:
        cmd = [executable]
    elif argv0.endswith(".py") or not Path(argv0).name.startswith("awsfailover"):
        cmd = [python, "-m", "awsfailover"]
    else:
        cmd = [argv0]
    exe = Path(cmd[0]).absolute()
    if not exe.is_file() or not os.access(exe, os.X_OK):
        raise ValueError(f"{exe} is not an executable file keepalived could run (--executable)")
    return [str(exe), *cmd[1:]]


def master_down(advert_int: float, priority: int) -> float:
    """keepalived's master-down interval for a backup at priority: 3 adverts plus its skew
    (RFC 5798: (256 - priority) / 256 of an advert)."""
    return 3 * advert_int + (256 - priority) / 256 * advert_int


def render(settings: Settings, node: NodeVrrp, command: list[str], config_path: Path) -> str:
    if not settings.instances:
        raise ValueError("the config has no [[instances]] to render")
    down = master_down(node.advert_int, node.priority)
    if settings.arbiter is not None and settings.arbiter.lease_ttl > down:
        # a dead master's lease must be stale by the time keepalived promotes its peer
        raise ValueError(
            f"[arbiter] lease_ttl {settings.arbiter.lease_ttl:g}s is above keepalived's "
            f"master-down interval here ({down:.3g}s for --advert-int {node.advert_int:g} at "
            f"--priority {node.priority}): a failover would wait for the lease"
        )
    if settings.node.interface == "lo":
        raise ValueError("node.interface is lo: keepalived cannot run VRRP on a loopback interface")
    if node.vrid_base + len(settings.instances) - 1 > 255:
        raise ValueError("too many instances for --vrid: virtual_router_id must stay <= 255")
    base = [*command, "--config", str(config_path)]
    iface = _word(settings.node.interface)
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
        fifo = settings.agent.fifo or defaults.FIFO
        out += [
            "    # The agent reads every transition from this FIFO (agent.fifo).",
            f"    vrrp_notify_fifo {_word(str(fifo))}",
        ]
    out.append("}")
    state = settings.failover.state_dir
    out += _script_checks(base, node) if node.script_checks else _trackers(state, node)
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
        # A multi-NIC node: VRRP speaks on the node's interface, the VIPs sit on the
        # instance's own (its ENI is where EC2 moves them).
        vip_iface = _word(inst.interface) if inst.interface else iface
        same = [v for v in inst.vips if ipaddress.ip_address(v).version == family]
        other = [v for v in inst.vips if ipaddress.ip_address(v).version != family]
        for block, vips in (("virtual_ipaddress", same), ("virtual_ipaddress_excluded", other)):
            if vips:
                out.append(f"    {block} {{")
                for v in vips:
                    plen = 32 if ipaddress.ip_address(v).version == 4 else 128
                    out.append(f"        {v}/{plen} dev {vip_iface}")
                out.append("    }")
        out += _tracking(node)
        out += [
            "    # keepalived appends TYPE NAME STATE PRIORITY. With the agent running, the hook",
            "    # hands over in milliseconds; without it, the hook does the work itself.",
            f"    notify {_quote([*base, 'notify'])}",
            "    # This MASTER heard a lower-priority one (it took EC2 over while the two could",
            "    # not hear each other): re-assert at once. keepalived passes no arguments here.",
            "    notify_master_rx_lower_pri "
            + _quote([*base, "notify", "INSTANCE", inst.name, "MASTER_RX_LOWER_PRI"]),
            "}",
        ]
    return "\n".join(out) + "\n"


def _trackers(state_dir: Path, node: NodeVrrp) -> list[str]:
    """keepalived's own trackers: inotify on two files, the kernel's process events for the
    agent. Nothing is started while the node is idle."""
    maintenance = state_dir / defaults.MAINTENANCE_FLAG
    out = [
        "",
        "# `awsfailover maintenance on` writes 1 here, `off` 0: non-zero puts the instance in",
        "# FAULT and a MASTER resigns at once, so the peer takes over without the master-down",
        "# delay. The directory must exist when keepalived starts (packaging/tmpfiles.d).",
        "track_file awsfailover_maintenance {",
        f'    file "{_word(str(maintenance))}"',
        "    weight 0",
        "    init_file 0",
        "}",
    ]
    if node.use_agent:
        health = state_dir / defaults.AGENT_HEALTH_FILE
        out += [
            "",
            "# The agent writes 1 here while it is unhealthy, 0 when healthy: a worse MASTER (the",
            "# hook still works without it), so it costs priority rather than a FAULT.",
            "track_file awsfailover_agent_health {",
            f'    file "{_word(str(health))}"',
            "    weight -50",
            "    init_file 0",
            "}",
            "",
            "# The agent takes this process name once it is ready; without it, the same -50.",
            "vrrp_track_process awsfailover_agent {",
            f"    process {defaults.AGENT_PROCESS_NAME}",
            "    weight -50",
            "    quorum 1",
            "}",
        ]
    return out


def _script_checks(base: list[str], node: NodeVrrp) -> list[str]:
    """The vrrp_script wiring (--script-checks): a process every second or two."""
    out = [
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
            "# The agent's health, asked on its 0600 socket: a node whose agent is unhealthy is",
            "# a worse MASTER (the hook still works without it), so it loses priority rather",
            "# than going to FAULT.",
            "vrrp_script awsfailover_agent {",
            f"    script {_quote([*base, 'keepalived-check', 'agent'])}",
            "    interval 2",
            "    timeout 2",
            "    fall 2",
            "    rise 1",
            "    weight -50",
            "}",
        ]
    return out


def _tracking(node: NodeVrrp) -> list[str]:
    if node.script_checks:
        return [
            "    track_script {",
            "        awsfailover_maintenance",
            *(["        awsfailover_agent"] if node.use_agent else []),
            "    }",
        ]
    files = ["awsfailover_maintenance", *(["awsfailover_agent_health"] if node.use_agent else [])]
    out = ["    track_file {", *(f"        {f}" for f in files), "    }"]
    if node.use_agent:
        out += ["    track_process {", "        awsfailover_agent", "    }"]
    return out
