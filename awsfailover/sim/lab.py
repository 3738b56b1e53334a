"""A keepalived lab on one machine: one network namespace per node, a bridge the lab creates,
and the local EC2 endpoint listening on the bridge. Each node runs Debian's keepalived with the
config `awsfailover keepalived-config` renders, and its own awsfailover (hook, or agent too).

Needs root, `ip` and keepalived. Every address lives on links the lab made; everything is
removed on close. Used by the end-to-end tests and by `make bench`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from awsfailover import defaults
from awsfailover.sim.server import SimClient, spawn
from awsfailover.sim.world import (
    PUBLIC_VIP,
    PublicSide,
    World,
    add_public_side,
    arbiter_toml,
    build,
    create_lease_table,
    ec2_client,
    eip_association,
    holder,
    route_targets,
)

ROOT_DIR = Path("/run/awsfailover-lab")  # root-owned: keepalived's script security accepts it


POLL = 0.02  # seconds between the stopwatch's EC2 looks once keepalived holds the VIP
BEFORE_MASTER_POLL = 0.25


def _without_process_tracking(conf: str) -> str:
    """keepalived in a network namespace gets no process events (the kernel's connector
    serves the initial namespace only: "Failed to set/clear process event listen"), nor
    does it then scan /proc, so its vrrp_track_process would count every agent absent: a
    constant -50 on every node. The lab drops it; tests/e2e/test_track_process.py runs
    keepalived in the initial namespace to show it."""
    out, skip = [], False
    for line in conf.splitlines(keepends=True):
        if line.startswith("vrrp_track_process ") or line.strip() == "track_process {":
            skip = True
        if not skip:
            out.append(line)
        elif line.strip() == "}":
            skip = False
    return "".join(out)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=30)


def wait_for(cond: Callable[[], bool], timeout: float, interval: float = 0.05) -> float | None:
    """Seconds until cond() held, or None when it did not within timeout (bounded loop)."""
    start = time.monotonic()
    while True:
        if cond():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(interval)


def missing_requirements() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "keepalived", "tc"):
        if shutil.which(tool) is None:
            return f"needs {tool}"
    return None


@dataclass
class LabNode:
    name: str
    ns: str
    ip: str
    eni: str
    priority: int
    dir: Path
    keepalived: subprocess.Popen[bytes] | None = None
    agent: subprocess.Popen[bytes] | None = None
    orphans: list[Path] = field(default_factory=list)  # a killed keepalived's children
    pub_eni: str | None = None  # the node's second (public) ENI, in a public lab

    @property
    def config(self) -> Path:
        return self.dir / "config.toml"

    def vips_on_link(self) -> set[str]:
        out = sh("ip", "-n", self.ns, "-j", "addr", "show", "dev", "eth0", check=False).stdout
        try:
            doc = json.loads(out or "[]")
        except ValueError:
            return set()
        return {a["local"] for link in doc for a in link.get("addr_info", [])} - {self.ip}


@dataclass
class Lab:
    """Build with Lab.start(...); close() tears everything down."""

    tag: str
    subnet: str  # 10.99.X
    dir: Path
    url: str = ""
    sim_proc: subprocess.Popen[bytes] | None = None
    world: World | None = None
    nodes: list[LabNode] = field(default_factory=list)
    use_agent: bool = False
    exe: Path = Path()
    _observer: Any = None
    namespaces: list[str] = field(default_factory=list)
    # A public lab: two-NIC gateways. Each node has eth1 (its public ENI) where the PUB
    # instance's VIP and Elastic IP live, and VI_1 selects its routes with routes = "auto".
    public: PublicSide | None = None
    want_public: bool = False
    # the lease arbiter ([arbiter], its table in the lab's endpoint): its lease_ttl, or None
    arbiter_ttl: float | None = None

    @classmethod
    def start(
        cls,
        priorities: list[int],
        *,
        use_agent: bool = False,
        nopreempt: bool = False,
        advert_int: float = 1.0,
        script_checks: bool = False,
        agent_extra: str = "",
        public: bool = False,
        arbiter_ttl: float | None = None,
    ) -> Lab:
        tag = secrets.token_hex(2)
        lab = cls(
            tag=tag,
            subnet=f"10.{99 + int(tag, 16) % 50}.{int(tag, 16) % 250}",
            dir=ROOT_DIR / tag,
            use_agent=use_agent,
            want_public=public,
            arbiter_ttl=arbiter_ttl,
        )
        if public and len(priorities) != 2:
            raise ValueError("a public lab is a pair")
        if public and arbiter_ttl is not None:
            raise ValueError("a public lab has its own [group]: no arbiter")
        try:
            lab._net(len(priorities))
            lab._sim()
            lab._nodes(priorities, agent_extra)
            for n in lab.nodes:
                lab._render(n, nopreempt, advert_int, script_checks)
        except BaseException:
            lab.close()
            raise
        return lab

    # --- network ------------------------------------------------------------------------------

    @property
    def bridge(self) -> str:
        return f"afbr{self.tag}"

    def _net(self, count: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        ROOT_DIR.chmod(0o755)
        self.dir.chmod(0o700)
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i in range(count):
            ns, veth = f"af{self.tag}n{i}", f"afv{self.tag}{i}"
            sh("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "link", "set", veth, "master", self.bridge, "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.subnet}.{10 + i}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            if self.want_public:
                # the public side carries no VRRP: a link of its own keepalived puts the VIP
                # on (a veth pair inside the namespace; the kernel may lack the dummy type)
                sh("ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
                sh("ip", "-n", ns, "link", "set", "eth1p", "up")
                sh("ip", "-n", ns, "link", "set", "eth1", "up")

    def _sim(self) -> None:
        self.sim_proc, self.url = spawn(host=f"{self.subnet}.1", log_path=self.dir / "sim.log")
        self.world = build(self.url)
        if self.arbiter_ttl is not None:
            create_lease_table(self.url)
        if self.want_public:
            self.public = add_public_side(self.world)

    @property
    def sim(self) -> SimClient:
        return SimClient(self.url)

    def _nodes(self, priorities: list[int], agent_extra: str) -> None:
        assert self.world is not None
        w = self.world
        ec2 = ec2_client(self.url)
        enis = [w.eni_a, w.eni_b]
        for i in range(2, len(priorities)):
            enis.append(
                ec2.create_network_interface(
                    SubnetId=w.app_subnet, PrivateIpAddress=f"10.0.1.{10 + i}"
                )["NetworkInterface"]["NetworkInterfaceId"]
            )
        # The wrapper carries the test credentials and metadata endpoint: keepalived runs
        # scripts with its own environment.
        self.exe = self.dir / "awsfailover"
        env_lines = "".join(
            f"export {k}={v}\n"
            for k, v in {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "eu-north-1",
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9/",
                "AWS_ENDPOINT_URL_DYNAMODB": self.url,  # the arbiter's table, when there is one
                "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "PYTHONDONTWRITEBYTECODE": "1",
            }.items()
        )
        self.exe.write_text(f'#!/bin/sh\n{env_lines}exec {sys.executable} -m awsfailover "$@"\n')
        self.exe.chmod(0o755)
        for i, prio in enumerate(priorities):
            node_dir = self.dir / f"n{i}"
            node_dir.mkdir(mode=0o700)
            # the state_dir, before keepalived starts (tmpfiles.d's job on an appliance):
            # keepalived drops a track file whose directory does not exist yet
            (node_dir / "run").mkdir(mode=0o700)
            node = LabNode(
                name=f"n{i}",
                ns=f"af{self.tag}n{i}",
                ip=f"{self.subnet}.{10 + i}",
                eni=enis[i],
                pub_eni=[self.public.eni_a, self.public.eni_b][i] if self.public else None,
                priority=prio,
                dir=node_dir,
            )
            agent = ""
            if self.use_agent:
                agent = (
                    f'[agent]\nfifo = "{node_dir}/notify.fifo"\nsocket = "{node_dir}/agent.sock"\n'
                    f'keepalived_pidfile = "{node_dir}/keepalived.pid"\n'
                    f'metrics_address = "127.0.0.1:9108"\n{agent_extra}\n'
                )
            if self.arbiter_ttl is not None:
                agent = arbiter_toml(ttl=self.arbiter_ttl) + agent
            toml = w.config_toml(
                node.eni, state_dir=node_dir / "run", extra=agent, instances=self._instances(node)
            ).replace('interface = "lo"', 'interface = "eth0"')
            node.config.write_text(toml)
            self.nodes.append(node)

    def _instances(self, node: LabNode) -> str | None:
        if self.public is None or self.world is None:
            return None  # the world's default instance
        w = self.world
        rtbs = ", ".join(f'"{t}"' for t in w.rtb_clients)
        return (
            f'[[instances]]\nname = "VI_1"\nvips = ["10.0.1.100", "{w.vip6}"]\n'
            f'routes = "auto"\nroute_tables = [{rtbs}]\n\n'
            + self.public.instance_toml("PUB", eni=node.pub_eni, extra='interface = "eth1"')
            + f'[group]\nenis = ["{w.eni_a}", "{w.eni_b}"]\n'
        )

    def _render(
        self, node: LabNode, nopreempt: bool, advert_int: float, script_checks: bool = False
    ) -> None:
        peers = [n.ip for n in self.nodes if n is not node]
        args = [
            str(self.exe),
            "--config",
            str(node.config),
            "keepalived-config",
            "--self",
            node.ip,
            *(a for p in peers for a in ("--peer", p)),
            "--priority",
            str(node.priority),
            "--advert-int",
            f"{advert_int:g}",
            "--executable",
            str(self.exe),
        ]
        if nopreempt:
            args.append("--nopreempt")
        if script_checks:
            args.append("--script-checks")
        if self.use_agent:
            args.append("--use-agent")
        conf = subprocess.run(args, capture_output=True, text=True, check=True, timeout=30).stdout
        (node.dir / "keepalived.conf").write_text(_without_process_tracking(conf))

    # --- processes ----------------------------------------------------------------------------

    def start_node(self, node: LabNode) -> None:
        if self.use_agent and (node.agent is None or node.agent.poll() is not None):
            node.agent = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    node.ns,
                    str(self.exe),
                    "--config",
                    str(node.config),
                    "agent",
                ],
                stdout=subprocess.DEVNULL,
                stderr=(node.dir / "agent.log").open("ab"),
                start_new_session=True,
            )
            wait_for((node.dir / "agent.sock").exists, 30)
            # ready, as systemd's Type=notify would have it before keepalived starts
            comm = Path(f"/proc/{node.agent.pid}/comm")
            wait_for(lambda: _read(comm) == defaults.AGENT_PROCESS_NAME, 30)
        # A killed keepalived's children are orphans until the machine's init reaps them
        # (~1 s here): a keepalived started before that says "daemon is already running".
        wait_for(lambda: not any(p.exists() for p in node.orphans), 15)
        d = node.dir
        node.keepalived = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                node.ns,
                "keepalived",
                "-n",
                "-l",
                "-D",
                "-f",
                str(d / "keepalived.conf"),
                "-p",
                str(d / "keepalived.pid"),
                "-r",
                str(d / "vrrp.pid"),
                "-c",
                str(d / "checkers.pid"),
            ],
            stdout=(d / "keepalived.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill_keepalived(self, node: LabNode) -> None:
        """SIGKILL keepalived and its children: no resignation advert, as a crash."""
        if node.keepalived is not None and node.keepalived.poll() is None:
            children = [_read(node.dir / f) for f in ("vrrp.pid", "checkers.pid")]
            os.killpg(node.keepalived.pid, signal.SIGKILL)
            node.keepalived.wait(timeout=10)
            node.orphans = [Path(f"/proc/{p}") for p in children if p.isdigit()]
        # keepalived's VIPs stay on a crashed node's link; the OS would drop them on reboot.
        sh("ip", "-n", node.ns, "addr", "flush", "dev", "eth0", "scope", "global", check=False)
        if self.public is not None:
            sh("ip", "-n", node.ns, "addr", "flush", "dev", "eth1", "scope", "global", check=False)
        sh("ip", "-n", node.ns, "addr", "add", f"{node.ip}/24", "dev", "eth0", check=False)

    def kill_agent(self, node: LabNode) -> None:
        """SIGKILL the agent: no release of the lease, no goodbye, as a crash."""
        if node.agent is not None and node.agent.poll() is None:
            os.killpg(node.agent.pid, signal.SIGKILL)
            node.agent.wait(timeout=10)

    def stop_agent(self, node: LabNode) -> None:
        if node.agent is not None and node.agent.poll() is None:
            os.killpg(node.agent.pid, signal.SIGTERM)
            try:
                node.agent.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(node.agent.pid, signal.SIGKILL)

    def run(self, node: LabNode, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", node.ns, str(self.exe), "--config", str(node.config), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

    def metric(self, node: LabNode, name: str) -> float | None:
        code = (
            "import urllib.request,sys;"
            "print(urllib.request.urlopen('http://127.0.0.1:9108/metrics',timeout=2).read().decode())"
        )
        out = sh("ip", "netns", "exec", node.ns, sys.executable, "-c", code, check=False).stdout
        for line in out.splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
        return None

    # --- EC2 state ----------------------------------------------------------------------------

    def observer(self) -> Any:
        """An EC2 client whose reads bypass the endpoint's fault injection: measuring the
        state must not be slowed by the throttling the nodes are put under."""
        if self._observer is None:
            ec2 = ec2_client(self.url)

            def mark(request: Any, **_: Any) -> None:
                request.headers["X-Sim-Observer"] = "1"

            ec2.meta.events.register("before-sign.ec2", mark)
            self._observer = ec2
        return self._observer

    def converged_on(self, node: LabNode) -> bool:
        assert self.world is not None
        w = self.world
        ec2 = self.observer()
        try:
            for vip in (w.vip6, "10.0.1.100"):
                if holder(ec2, vip) != [node.eni]:
                    return False
            for rtb in w.rtb_clients:
                t = route_targets(ec2, rtb)
                if {t[d] for d in ("192.168.50.0/24", "2001:db8:ff::/64", w.prefix_list)} != {
                    node.eni
                }:
                    return False
            if self.public is not None:
                if holder(ec2, PUBLIC_VIP) != [node.pub_eni]:
                    return False
                if eip_association(ec2, self.public.allocation_id) != (node.pub_eni, PUBLIC_VIP):
                    return False
        except Exception:  # the endpoint may be throttling the test's own reads: not yet
            return False
        return True

    def measure(self, node: LabNode, timeout: float = 30.0) -> tuple[float | None, float | None]:
        """From now: (seconds until node's keepalived holds the VIP, seconds until EC2 has
        converged on node's ENI); None for what did not happen within timeout.

        The stopwatch must not load the machine it times (a cold hook shares its two cores):
        the link is followed by one `ip monitor` process, not an `ip` every 10 ms, and EC2 is
        polled every POLL seconds once keepalived holds the VIP (nothing moves before it),
        every BEFORE_MASTER_POLL before. An EC2 poll under throttling can take longer
        than the agent needs to converge, so the link is watched in its own thread."""
        start = time.monotonic()
        found: dict[str, float] = {}
        monitor = subprocess.Popen(
            ["ip", "-n", node.ns, "monitor", "address", "dev", "eth0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

        def watch_link() -> None:
            if "10.0.1.100" not in node.vips_on_link():  # the monitor runs: nothing is missed
                assert monitor.stdout is not None
                for line in monitor.stdout:
                    if " 10.0.1.100/" in line and not line.startswith("Deleted"):
                        break
                else:
                    return  # the monitor was stopped
            found["master"] = time.monotonic() - start
            holds.set()

        holds = threading.Event()  # keepalived holds the VIP: poll EC2 closely from now
        watcher = threading.Thread(target=watch_link, daemon=True)
        watcher.start()
        try:
            while time.monotonic() - start < timeout:
                if self.converged_on(node):
                    found["converged"] = time.monotonic() - start
                    break
                if holds.is_set():
                    time.sleep(POLL)
                else:
                    holds.wait(BEFORE_MASTER_POLL)
            watcher.join(timeout=max(0.0, timeout - (time.monotonic() - start)))
        finally:
            monitor.kill()
            monitor.wait(timeout=10)
        return found.get("master"), found.get("converged")

    @contextlib.contextmanager
    def cores_busy(self) -> Iterator[None]:
        """A CPU hog (a shell spinning) in each node's namespace while the block runs."""
        hogs = [
            subprocess.Popen(
                ["ip", "netns", "exec", n.ns, "sh", "-c", "while :; do :; done"],
                start_new_session=True,
            )
            for n in self.nodes
        ]
        try:
            yield
        finally:
            for h in hogs:
                os.killpg(h.pid, signal.SIGKILL)
                h.wait(timeout=10)

    def state_changes(self, node: LabNode) -> int:
        """keepalived's state entries for node so far (its log, across restarts)."""
        try:
            text = (node.dir / "keepalived.log").read_bytes().decode(errors="replace")
        except OSError:
            return 0
        return sum(text.count(f"Entering {s} STATE") for s in ("MASTER", "BACKUP", "FAULT"))

    def masters(self) -> list[str]:
        return [n.name for n in self.nodes if "10.0.1.100" in n.vips_on_link()]

    def close(self) -> None:
        for n in self.nodes:
            self.kill_keepalived(n)
            self.stop_agent(n)
        if self.sim_proc is not None:
            self.sim_proc.terminate()
            try:
                self.sim_proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sim_proc.kill()
        for ns in self.namespaces:
            sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", self.bridge, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
