"""The service proxy forwarding real connections on loopback, fed Service and EndpointSlice events by hand.

No cluster: the events are what the agent's informers would hand over, the backends are real HTTP
servers listening on the loopback twins of pod addresses.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes import client

from pipeline_steps_sandbox.proxy import ServiceProxy
from pipeline_steps_sandbox.sockets import listening

NET = 247
NAMESPACE = "shop"


class _Named(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = str(self.server.server_address[0]).encode()  # type: ignore[index]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def backends() -> Iterator[Callable[..., tuple[str, int]]]:
    """Starts an HTTP server on the loopback twin of pod 10.<NET>.1.<host>; returns (pod ip, port)."""
    servers: list[ThreadingHTTPServer] = []

    def start(host: int, port: int = 0) -> tuple[str, int]:
        server = ThreadingHTTPServer((f"127.{NET}.1.{host}", port), _Named)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return f"10.{NET}.1.{host}", server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def make_proxy(loop: asyncio.AbstractEventLoop, delay: float = 0.0) -> Iterator[ServiceProxy]:
    api = client.ApiClient()
    proxy = ServiceProxy(api, NET, loop, propagation_delay=delay)
    yield proxy
    asyncio.run_coroutine_threadsafe(proxy.close(), loop).result(timeout=5)
    api.close()


@pytest.fixture
def proxy(loop: asyncio.AbstractEventLoop) -> Iterator[ServiceProxy]:
    yield from make_proxy(loop)


@pytest.fixture
def slow_proxy(loop: asyncio.AbstractEventLoop) -> Iterator[ServiceProxy]:
    yield from make_proxy(loop, delay=60.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_port_service(node_port: int) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": NAMESPACE, "uid": "u-1"},
        "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": node_port}]},
    }


def endpoint_slice(endpoints: list[tuple[str, int]], name: str = "web-abc") -> dict[str, Any]:
    port = endpoints[0][1] if endpoints else 8080
    return {
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip, _ in endpoints],
    }


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def get(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def serve(proxy: ServiceProxy, endpoints: list[tuple[str, int]]) -> int:
    """Publish a NodePort Service with these endpoints; returns the node port once it listens."""
    node_port = free_port()
    proxy.on_service("ADDED", node_port_service(node_port))
    proxy.on_slice("ADDED", endpoint_slice(endpoints))
    wait_until(lambda: ("127.0.0.1", node_port) in listening(), f"the proxy listening on {node_port}")
    wait_until(lambda: proxy.pick(f"{NAMESPACE}/web", "http") is not None or not endpoints, "the slice applied")
    return node_port


def test_connections_go_to_each_ready_endpoint_in_turn(
    proxy: ServiceProxy, backends: Callable[..., tuple[str, int]]
) -> None:
    first = backends(2)
    # Pods of one Deployment listen on the same port, which the slice names once.
    second = backends(3, first[1])
    node_port = serve(proxy, [first, second])

    answers = [get(node_port) for _ in range(6)]

    assert set(answers) == {f"127.{NET}.1.2", f"127.{NET}.1.3"}
    assert answers[0::2] == [answers[0]] * 3  # round-robin: the same one every second connection


def test_a_service_without_endpoints_closes_the_connection_unanswered(proxy: ServiceProxy) -> None:
    node_port = serve(proxy, [])

    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        get(node_port)


def test_an_endpoint_change_waits_for_the_propagation_delay(slow_proxy: ServiceProxy) -> None:
    slow_proxy.on_slice("ADDED", endpoint_slice([(f"10.{NET}.1.2", 8080)]))
    # The loop has had time to run anything scheduled without a delay.
    asyncio.run_coroutine_threadsafe(asyncio.sleep(0.2), slow_proxy.loop).result(timeout=5)

    assert slow_proxy.pick(f"{NAMESPACE}/web", "http") is None


def test_a_deleted_endpoint_slice_takes_its_endpoints_away(
    proxy: ServiceProxy, backends: Callable[..., tuple[str, int]]
) -> None:
    node_port = serve(proxy, [backends(2)])
    assert get(node_port) == f"127.{NET}.1.2"

    proxy.on_slice("DELETED", endpoint_slice([]))
    wait_until(lambda: proxy.pick(f"{NAMESPACE}/web", "http") is None, "the slice removed")

    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        get(node_port)


def test_a_deleted_service_stops_listening(proxy: ServiceProxy) -> None:
    node_port = serve(proxy, [])

    proxy.on_service("DELETED", node_port_service(node_port))

    wait_until(lambda: ("127.0.0.1", node_port) not in listening(), "the listener closed")
    with pytest.raises(ConnectionRefusedError):
        get(node_port)
