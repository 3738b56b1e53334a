"""An HTTP front for the local endpoint that misbehaves for chosen actions (the hook's and the
agent's fault tests share it)."""

from __future__ import annotations

import contextlib
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Proxy"]


class Proxy:
    """An HTTP front for the local endpoint that misbehaves for chosen actions: `trickle`
    answers one byte a second forever; `malformed:N` answers N unreadable bodies first."""

    def __init__(self, upstream: str, rules: dict[str, str]) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.rules = rules
        self.counts: dict[str, int] = {}
        self.log: list[str] = []  # every action, in the order requests arrived
        self.stop = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = urllib.parse.parse_qs(body.decode()).get("Action", ["?"])[0]
                rule = proxy.rules.get(action, "")
                n = proxy.counts[action] = proxy.counts.get(action, 0) + 1
                proxy.log.append(action)
                if rule == "trickle":
                    self.send_response(200)
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    with contextlib.suppress(OSError):
                        while not proxy.stop.wait(1.0):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                    return
                if rule.startswith("malformed:") and n <= int(rule.split(":")[1]):
                    out = (
                        b'<?xml version="1.0"?><DescribeNetworkInterfacesResponse>'
                        b"<networkInterfaceSet><item><subnetId>x</subnetId></item>"
                        b"</networkInterfaceSet></DescribeNetworkInterfacesResponse>"
                    )
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                import http.client

                up = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                up.request("POST", self.path, body, dict(self.headers))
                resp = up.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
