"""A fake IMDSv2 server on loopback: token PUT, then token-checked GETs.

`hop_limit_exceeded=True` mimics a container behind a hop limit of 1: the token PUT never
gets an answer (the client times out), exactly what breaks discovery in real life.
"""

from __future__ import annotations

import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeImds:
    def __init__(
        self, region: str, macs: dict[str, dict[str, str]], hop_limit_exceeded: bool = False
    ) -> None:
        self.region = region
        self.macs = macs  # mac -> {"interface-id": ..., "local-ipv4s": ..., ...}
        self.hop_limit_exceeded = hop_limit_exceeded
        self.tokens: set[str] = set()
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    def lookup(self, path: str) -> str | None:
        prefix = "/latest/meta-data/"
        if not path.startswith(prefix):
            return None
        rel = path[len(prefix) :]
        if rel == "placement/region":
            return self.region
        if rel == "network/interfaces/macs/":
            return "\n".join(f"{m}/" for m in self.macs)
        parts = rel.split("/")
        if len(parts) == 5 and parts[:3] == ["network", "interfaces", "macs"]:
            return self.macs.get(parts[3], {}).get(parts[4])
        return None

    def start(self) -> FakeImds:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _send(self, code: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                fake.requests.append(f"PUT {self.path}")
                if fake.hop_limit_exceeded:
                    time.sleep(3)  # the answer never reaches the container: client times out
                    return
                if self.path != "/latest/api/token" or not self.headers.get(
                    "X-aws-ec2-metadata-token-ttl-seconds"
                ):
                    self._send(400)
                    return
                token = secrets.token_hex(16)
                fake.tokens.add(token)
                self._send(200, token)

            def do_GET(self) -> None:
                fake.requests.append(f"GET {self.path}")
                if self.headers.get("X-aws-ec2-metadata-token") not in fake.tokens:
                    self._send(401)
                    return
                value = fake.lookup(self.path)
                self._send(404) if value is None else self._send(200, value)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
