"""Run the strict moto server on a loopback port, in a thread or as a subprocess."""

from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from awsfailover.sim import strict
from awsfailover.sim.faults import Environ, FaultMiddleware, Faults, StartResponse

if TYPE_CHECKING:
    from awsfailover.sim.world import World


CONTROL_PREFIX = "/_sim/"
# http://ENDPOINT/_imds/<eni-id>/ is IMDSv2 as the instance owning that ENI sees it: point
# AWS_EC2_METADATA_SERVICE_ENDPOINT there. Addresses come from strict.metadata_addresses.
# A multi-NIC instance: /_imds/<eni-id>+<eni-id>/, one MAC per ENI, the first is eth0's.
IMDS_PREFIX = "/_imds/"
_IMDS_TOKEN = "sim-imds-token"  # noqa: S105 - a fake token for a fake IMDS


def metadata_view(environ: Environ, start_response: StartResponse, rest: str) -> Iterable[bytes]:
    from moto.ec2.models import ec2_backends

    eni_ids, _, path = rest.partition("/")
    method = environ["REQUEST_METHOD"]
    body: str | None = None
    if method == "PUT" and path == "latest/api/token":
        body = _IMDS_TOKEN
    elif method == "GET" and environ.get("HTTP_X_AWS_EC2_METADATA_TOKEN") == _IMDS_TOKEN:
        found = [
            (region, [b.enis[e] for e in eni_ids.split("+")])
            for region, b in ec2_backends["123456789012"].items()
            if all(e in b.enis for e in eni_ids.split("+"))
        ]
        md = "latest/meta-data/"
        if found and path.startswith(md):
            region, enis = found[0]
            body = _metadata(region, enis, path[len(md) :])
    elif method == "GET":
        start_response("401 Unauthorized", [("Content-Length", "0")])
        return [b""]
    if body is None:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    out = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(out)))])
    return [out]


def _metadata(region: str, enis: list[Any], path: str) -> str | None:
    """The few keys awsfailover reads. A MAC that is none of the ENIs' is the first ENI's (the
    test host's interface has its own MAC)."""
    if path == "placement/region":
        return region
    if path == "network/interfaces/macs/":
        return "\n".join(f"{e.mac_address}/" for e in enis)
    parts = path.split("/")
    if len(parts) != 5 or parts[:3] != ["network", "interfaces", "macs"]:
        return None
    eni = next((e for e in enis if e.mac_address == parts[3]), enis[0])
    v4, v6 = strict.metadata_addresses(eni)
    return {
        "interface-id": eni.id,
        "local-ipv4s": "\n".join(v4),
        "ipv6s": "\n".join(v6) if v6 else None,  # AWS: 404 without IPv6 addresses
        "subnet-id": eni.subnet.id,
        "vpc-id": eni.subnet.vpc_id,
    }.get(parts[4])


class _ControlApp:
    """/_sim/* endpoints (faults, counters, move delay) in front of everything else."""

    def __init__(self, faults: FaultMiddleware) -> None:
        self.faults = faults

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith(IMDS_PREFIX):
            return metadata_view(environ, start_response, path[len(IMDS_PREFIX) :])
        if not path.startswith(CONTROL_PREFIX):
            return self.faults(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            doc = self.handle(
                environ["REQUEST_METHOD"], path[len(CONTROL_PREFIX) :], json.loads(body or b"{}")
            )
            status = "200 OK"
        except (ValueError, TypeError, KeyError) as exc:
            doc, status = {"error": str(exc)}, "400 Bad Request"
        out = json.dumps(doc).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(out)))]
        )
        return [out]

    def handle(self, method: str, path: str, doc: dict[str, Any]) -> dict[str, Any]:
        if path == "health":
            return {"ok": True}
        if path == "calls" and method == "GET":
            return {"calls": dict(self.faults.calls), "outcomes": dict(self.faults.outcomes)}
        if path == "journal" and method == "GET":
            return {"journal": list(self.faults.journal)}
        if path == "calls/reset" and method == "POST":
            self.faults.reset_counts()
            return {"ok": True}
        if path == "faults" and method == "POST":
            self.faults.configure(Faults.from_dict(doc))
            return {"ok": True}
        if path == "state" and method == "POST":
            known = set(strict.SimState.__dataclass_fields__)
            if set(doc) - known:
                raise ValueError(f"unknown state keys: {sorted(set(doc) - known)}")
            for key, value in doc.items():
                setattr(strict.STATE, key, type(getattr(strict.SimState(), key))(value))
            return {"ok": True}
        if path == "world" and method == "POST":
            from awsfailover.sim.world import build_in_backend

            return build_in_backend(**doc)
        if path == "propagated-route" and method == "POST":
            from moto.ec2.models import ec2_backends

            backend = ec2_backends[doc.get("account", "123456789012")][doc["region"]]
            strict.add_propagated_route(
                backend, doc["route_table_id"], doc["destination"], doc["gateway_id"]
            )
            return {"ok": True}
        raise KeyError(f"no control endpoint {method} {path}")


def make_app() -> tuple[_ControlApp, FaultMiddleware]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from awsfailover.sim import iamauth
    from awsfailover.sim.pager import Pager

    strict.install()
    iamauth.install()
    moto = DomainDispatcherApplication(create_backend_app)
    faults = FaultMiddleware(Pager(iamauth.IamEnforcer(moto)))
    return _ControlApp(faults), faults


class LocalEndpoint:
    """In-process server on 127.0.0.1 (port 0 picks a free one)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.faults: FaultMiddleware | None = None

    def start(self) -> LocalEndpoint:
        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        app, self.faults = make_app()
        self._server = make_server(self.host, self.port, app, threaded=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="local-ec2"
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalEndpoint:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SimClient:
    """Talks to a running local endpoint's control API (in-process or subprocess alike)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _req(
        self, method: str, path: str, doc: dict[str, Any] | None = None, timeout: float = 5.0
    ) -> Any:
        data = json.dumps(doc).encode() if doc is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback only
            return json.loads(resp.read() or b"null")

    def health(self) -> bool:
        try:
            return bool(self._req("GET", "/_sim/health")["ok"])
        except OSError:
            return False

    def calls(self) -> dict[str, int]:
        return dict(self._req("GET", "/_sim/calls")["calls"])

    def outcomes(self) -> dict[str, int]:
        return dict(self._req("GET", "/_sim/calls")["outcomes"])

    def journal(self) -> list[tuple[float, str, str, str]]:
        """Mutating calls since the last reset: (time.monotonic() on this machine, action,
        the ENI it names, outcome)."""
        return [tuple(e) for e in self._req("GET", "/_sim/journal")["journal"]]

    def reset_calls(self) -> None:
        self._req("POST", "/_sim/calls/reset")

    def set_faults(self, **faults: Any) -> None:
        self._req("POST", "/_sim/faults", faults)

    def set_move_delay(self, seconds: float) -> None:
        self._req("POST", "/_sim/state", {"move_delay": seconds})

    def set_state(self, **state: Any) -> None:
        """Endpoint behaviours AWS leaves open (strict.SimState): delays, error codes."""
        self._req("POST", "/_sim/state", state)

    def add_propagated_route(
        self, region: str, route_table_id: str, destination: str, gateway_id: str
    ) -> None:
        self._req(
            "POST",
            "/_sim/propagated-route",
            {
                "region": region,
                "route_table_id": route_table_id,
                "destination": destination,
                "gateway_id": gateway_id,
            },
        )

    def build_world(self) -> World:
        """world.build()'s network, made inside the endpoint (see build_in_backend)."""
        from awsfailover.sim.world import World

        # a few hundred model operations: seconds on a machine busy with other tests
        return World(endpoint_url=self.url, **self._req("POST", "/_sim/world", {}, timeout=60))

    def reset(self) -> None:
        """Forget every resource (moto's own reset) and every fault and counter."""
        self._req("POST", "/moto-api/reset")
        self.set_faults()
        self._req("POST", "/_sim/state", vars(strict.SimState()))
        self.reset_calls()


def spawn(
    port: int = 0, host: str = "127.0.0.1", timeout: float = 30.0, log_path: Path | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m awsfailover.sim` and wait until it answers; returns (process, url)."""
    cmd = [sys.executable, "-m", "awsfailover.sim", "--host", host, "--port", str(port)]
    out = log_path.open("wb") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=out, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    assert proc.stdout is not None
    end = time.monotonic() + timeout
    # The server prints its URL once bound; a machine busy with other tests may take a while
    # to import moto, so wait for that line (bounded by timeout), never for a fixed guess.
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("http://"):
        proc.kill()
        why = "no URL" if not ready else repr(line)
        raise RuntimeError(f"local endpoint did not start within {timeout:g}s: {why}")
    client = SimClient(line)
    while not client.health():
        if time.monotonic() > end or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("local endpoint did not become healthy")
        time.sleep(0.05)
    return proc, line
