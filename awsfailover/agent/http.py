"""Prometheus metrics and /healthz on one HTTP port.

The port is for monitoring, not for keepalived (its check asks on the hand-off socket): any
local user may hold it while the agent is down, so a busy port is a loud warning and a retry
every METRICS_RETRY seconds, never a reason not to start."""

from __future__ import annotations

import errno
import logging
import select
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any

from awsfailover.config.schema import split_host_port
from awsfailover.errors import ConfigError

__all__ = ["METRICS_RETRY", "AddressInUse", "Health", "MetricsServer", "make_http_server"]

log = logging.getLogger(__name__)

Health = Callable[[], tuple[bool, str]]
METRICS_RETRY = 5.0  # seconds between tries to bind a busy metrics port


class AddressInUse(ConfigError):
    """The metrics port is held by another process."""


def make_http_server(address: str, registry: Any, healthy: Health) -> Any:
    """A threading WSGI server bound to address ("host:port", "[v6]:port"), not yet serving."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer

    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            ok, why = healthy()
            body = (why + "\n").encode()
            start_response(
                "200 OK" if ok else "503 Service Unavailable",
                [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return metrics_app(environ, start_response)  # type: ignore[no-any-return]

    host, port = split_host_port(address)
    # The family of the address, as prometheus_client's own start_wsgi_server picks it:
    # "[::1]:9108" needs an AF_INET6 socket.
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

    class Server(ThreadingWSGIServer):
        address_family = family

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

    try:
        server = make_server(host, port, app, server_class=Server, handler_class=Quiet)
    except OSError as exc:
        kind = AddressInUse if exc.errno == errno.EADDRINUSE else ConfigError
        raise kind(f"agent.metrics_address: {address}: {exc}") from exc
    shown = f"[{host}]" if ":" in host else host
    log.info("metrics and /healthz on http://%s:%d", shown, server.server_port)
    return server


class MetricsServer:
    """The metrics port, served on its own thread; bound later if it is busy at start."""

    def __init__(self, address: str, registry: Any, healthy: Health) -> None:
        self.address = address
        self.registry = registry
        self.healthy = healthy
        self.server: Any = None
        self._lock = threading.Lock()
        self._closed = False
        self._busy = ""
        self._serving = False

    @property
    def port(self) -> int | None:
        return int(self.server.server_port) if self.server is not None else None

    def bind(self) -> bool:
        """Try once: False while the port is busy; any other error is the config's."""
        try:
            server = make_http_server(self.address, self.registry, self.healthy)
        except AddressInUse as exc:
            self._busy = str(exc)
            return False
        with self._lock:
            if self._closed:
                server.server_close()
                return True
            self.server = server
        return True

    @classmethod
    def bound(cls, address: str, registry: Any, healthy: Health) -> MetricsServer:
        """Bound now when the port is free (any other bind error is the config's, raised);
        when it is busy, run() retries."""
        server = cls(address, registry, healthy)
        server.bind()
        return server

    def run(self, stop_fd: int) -> None:
        """Bind (retrying every METRICS_RETRY s while the port is busy), serve until close()."""
        if self.server is None and not self.bind():
            log.warning(
                "METRICS PORT BUSY: %s; another process holds it. Retrying every %.0fs "
                "(failover and keepalived's check do not need it)",
                self._busy,
                METRICS_RETRY,
            )
            while not self.bind():
                if select.select([stop_fd], [], [], METRICS_RETRY)[0]:
                    return
            log.warning("metrics port %s bound at last", self.address)
        with self._lock:
            if self._closed or self.server is None:
                return
            self._serving = True  # from here close() may shut it down: serve_forever will run
        self.server.serve_forever()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            server, serving = self.server, self._serving
        if server is not None:
            if serving:  # shutdown() waits for serve_forever: only when it runs or will
                server.shutdown()
            server.server_close()
