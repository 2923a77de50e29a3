"""The part of a kubelet's API the apiserver proxies to for `pods/portforward`: the websocket port forward.

A client (`kubectl port-forward` with websockets, the Python client's `portforward`) asks the apiserver for
`pods/NAME/portforward?ports=P`; the apiserver opens `https://<node address>:10250/portForward/NS/NAME?port=P`
on the pod's Node with its kubelet client certificate and passes the websocket upgrade through. The stream
protocol is the kubelet's `v4.channel.k8s.io`: per port a data channel (2i) and an error channel (2i+1), each
opened by a frame holding the port number (uint16, little-endian); every frame's first byte is its channel.

The server listens on port 10250 inside each Node's network namespace (where the apiserver reaches the Node's
InternalIP) and connects to the pod's IP from the host, as the apiserver's service proxy does.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline_steps_sandbox import netns
from pipeline_steps_sandbox.certs import PkiPaths
from pipeline_steps_sandbox.nodes import KUBELET_PORT
from pipeline_steps_sandbox.tls_server import TlsHttpServer

log = logging.getLogger(__name__)

PROTOCOL = "v4.channel.k8s.io"
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_BINARY, _CLOSE, _PING, _PONG = 0x2, 0x8, 0x9, 0xA

#: (namespace, pod name) -> the pod's IP, or None when there is no such pod on this sandbox.
PodAddress = Callable[[str, str], str | None]


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()  # noqa: S324 (RFC 6455)


def frame(payload: bytes, opcode: int = _BINARY) -> bytes:
    """A server frame (unmasked, unfragmented)."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return header + payload


def parse_frames(buffer: bytearray) -> list[tuple[int, bytes]]:
    """The complete frames at the start of `buffer` (removed from it) as (opcode, unmasked payload)."""
    frames = []
    while len(buffer) >= 2:
        opcode, second = buffer[0] & 0x0F, buffer[1]
        size, offset = second & 0x7F, 2
        if size == 126:
            if len(buffer) < 4:
                break
            size, offset = struct.unpack_from("!H", buffer, 2)[0], 4
        elif size == 127:
            if len(buffer) < 10:
                break
            size, offset = struct.unpack_from("!Q", buffer, 2)[0], 10
        mask = b""
        if second & 0x80:
            mask, offset = bytes(buffer[offset : offset + 4]), offset + 4
        if len(buffer) < offset + size:
            break
        payload = bytes(buffer[offset : offset + size])
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        del buffer[: offset + size]
        frames.append((opcode, payload))
    return frames


def _handler(pod_address: PodAddress) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sandbox-kubelet/1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            parts = url.path.strip("/").split("/")
            ports = parse_qs(url.query).get("port") or []
            if len(parts) != 3 or parts[0] != "portForward" or len(ports) != 1 or not ports[0].isdigit():
                self.send_error(404, "the sandbox's kubelet serves /portForward/NS/POD?port=P only")
                return
            if self.headers.get("Upgrade", "").lower() != "websocket" or not self.headers.get("Sec-WebSocket-Key"):
                self.send_error(400, "the sandbox's kubelet forwards ports over websockets only")
                return
            address = pod_address(parts[1], parts[2])
            if address is None:
                self.send_error(404, f"pod {parts[1]}/{parts[2]} is not on this sandbox")
                return
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept_key(self.headers["Sec-WebSocket-Key"]))
            self.send_header("Sec-WebSocket-Protocol", PROTOCOL)
            self.end_headers()
            self.wfile.flush()
            self.close_connection = True
            forward(self.connection, address, int(ports[0]), f"{parts[1]}/{parts[2]}")

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("kubelet: %s %s", self.address_string(), format % args)

    return Handler


def forward(stream: socket.socket, address: str, port: int, pod: str) -> None:
    """Carry one port's bytes between the websocket `stream` and the pod's `address:port` until either ends."""
    opening = struct.pack("<H", port)
    stream.sendall(frame(b"\x00" + opening) + frame(b"\x01" + opening))
    try:
        target = socket.create_connection((address, port), timeout=5)
    except OSError as exc:
        message = f"error forwarding port {port} to pod {pod}: {exc.strerror or exc}"
        stream.sendall(frame(b"\x01" + message.encode()) + frame(struct.pack("!H", 1000), _CLOSE))
        return
    target.settimeout(None)
    buffer = bytearray()
    try:
        while True:
            readable, _, _ = select.select([stream, target], [], [], 60)
            if target in readable:
                data = target.recv(65536)
                if not data:
                    stream.sendall(frame(struct.pack("!H", 1000), _CLOSE))
                    return
                stream.sendall(frame(b"\x00" + data))
            if stream in readable or (isinstance(stream, ssl.SSLSocket) and stream.pending()):
                data = stream.recv(65536)
                if not data:
                    return
                buffer += data
                while isinstance(stream, ssl.SSLSocket) and stream.pending():
                    buffer += stream.recv(65536)
                for opcode, payload in parse_frames(buffer):
                    if opcode == _CLOSE:
                        stream.sendall(frame(payload[:2], _CLOSE))
                        return
                    if opcode == _PING:
                        stream.sendall(frame(payload, _PONG))
                    elif payload[:1] == b"\x00" and len(payload) > 1:
                        target.sendall(payload[1:])
    except OSError as exc:
        log.info("kubelet: port-forward to %s:%d ended: %s", address, port, exc)
    finally:
        target.close()


def tls_context(pki: PkiPaths) -> ssl.SSLContext:
    """The agent's serving certificate (the apiserver does not check a kubelet's unless told to), and only
    clients with a certificate from the sandbox CA: the apiserver's kubelet client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(pki.metrics_serving_cert), str(pki.metrics_serving_key))
    context.load_verify_locations(cafile=str(pki.ca_cert))
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _listen_in(namespace: str) -> socket.socket:
    made: list[socket.socket | BaseException] = []

    def inside() -> None:  # setns moves only this thread, which ends here
        try:
            netns.enter(namespace)
            made.append(socket.create_server(("0.0.0.0", KUBELET_PORT)))
        except BaseException as exc:
            made.append(exc)

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


def serve_in_node_namespaces(
    namespaces: list[str], pki: PkiPaths, pod_address: PodAddress, stop: threading.Event
) -> list[ThreadingHTTPServer]:
    """A kubelet port-forward server in each node namespace, started as each namespace appears (the launcher
    makes them after the agent starts)."""
    servers: list[ThreadingHTTPServer] = []

    def start_all() -> None:
        waiting = list(namespaces)
        while waiting and not stop.is_set():
            for namespace in list(waiting):
                with contextlib.suppress(OSError):
                    listener = _listen_in(namespace)
                    server = TlsHttpServer(listener, _handler(pod_address), tls_context(pki), "kubelet")
                    threading.Thread(target=server.serve_forever, name=f"kubelet {namespace}", daemon=True).start()
                    servers.append(server)
                    waiting.remove(namespace)
                    log.info("kubelet: port-forward server in %s on port %d", namespace, KUBELET_PORT)
            time.sleep(0.5)

    threading.Thread(target=start_all, name="kubelet servers", daemon=True).start()
    return servers
