"""A webhook on loopback: records each POST (document, signature header, raw body) and
answers status, or never answers (a sink that is down in the worst way: it accepts and then
says nothing)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Receiver"]


class Receiver:
    def __init__(self, answer: bool = True, host: str = "127.0.0.1", status: int = 204) -> None:
        self.got: list[tuple[dict[str, Any], str, bytes]] = []
        self.hold = threading.Event()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not answer:
                    rec.hold.wait(60)  # a webhook that never answers
                    return
                rec.got.append(
                    (json.loads(body), self.headers.get("X-Awsfailover-Signature", ""), body)
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()
