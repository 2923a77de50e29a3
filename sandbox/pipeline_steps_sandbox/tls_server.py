"""A threading HTTPS server whose TLS handshakes run in each request's own thread.

The node agent serves two APIs over TLS (the metrics API for the aggregator, the kubelet's port forward
for the apiserver): a slow or failing client holds up no other, and its failed handshake is a log line.
"""

from __future__ import annotations

import logging
import socket
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class TlsHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        where: tuple[str, int] | socket.socket,
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
        name: str,
    ) -> None:
        """`where`: an address to bind, or a socket already listening (made in another network namespace)."""
        self.context, self.name = context, name
        if isinstance(where, socket.socket):
            super().__init__(where.getsockname()[:2], handler, bind_and_activate=False)
            self.socket.close()
            self.socket = where
            self.server_name, self.server_port = name, where.getsockname()[1]  # what server_bind would set
        else:
            super().__init__(where, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        raw, address = self.socket.accept()
        return self.context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()
        except (OSError, ssl.SSLError) as exc:
            log.info("%s: TLS handshake with %s failed: %s", self.name, client_address, exc)
            return
        super().finish_request(request, client_address)
