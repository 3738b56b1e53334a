"""Prometheus metrics and /healthz on one HTTP port."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from awsfailover.config.schema import split_host_port
from awsfailover.errors import ConfigError

__all__ = ["Health", "make_http_server"]

log = logging.getLogger(__name__)

Health = Callable[[], tuple[bool, str]]


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
        raise ConfigError(f"agent.metrics_address: {address}: {exc}") from exc
    shown = f"[{host}]" if ":" in host else host
    log.info("metrics and /healthz on http://%s:%d", shown, server.server_port)
    return server
