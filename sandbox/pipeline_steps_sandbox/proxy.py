"""The sandbox's service proxy: what kube-proxy and a cloud load balancer do, on loopback.

Each Service of type LoadBalancer gets an address 127.<net>.0.<k>, published in its status, and
listens there on each of its ports; each NodePort (LoadBalancer Services have them too) listens on
127.0.0.1:<nodePort>. A new connection goes to one of the Service's ready endpoints, taken from its
EndpointSlices as they stand at that moment (followed by watch), round-robin; when none is ready it
falls back to serving-but-terminating endpoints, as kube-proxy does. There is no retry on another
endpoint when a connection fails: neither iptables nor IPVS does that, and the tests must see what
a real data plane would do.

kube-proxy programs rules some time after an EndpointSlice changes (its sync period plus the
time to write the rules); the proxy stands that in with `propagation_delay` (0.5 s by default), so
the race between a pod's endpoint leaving the data plane and its process stopping is as visible
here as on a cluster: a preStop sleep longer than the delay covers it, an app that exits at once on
SIGTERM without one loses requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from pipeline_steps_sandbox.addresses import load_balancer_ip, to_loopback
from pipeline_steps_sandbox.containers import API_TIMEOUT

log = logging.getLogger(__name__)

Obj = dict[str, Any]
_BUFFER = 64 * 1024
DEFAULT_PROPAGATION_DELAY = 0.5
#: How long publishing a LoadBalancer address is retried (the API server restarting, etcd away).
PUBLISH_RETRY_S = 60.0


def _published(service: Obj) -> list[str]:
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [i["ip"] for i in ingress if i.get("ip")]


@dataclass(frozen=True)
class Backend:
    host: str  # the loopback twin
    port: int


def backends_for(slices: list[Obj], port_name: str) -> list[Backend]:
    """Endpoints to send new connections to, for the Service port named `port_name`.

    Ready endpoints when there are any; otherwise those still serving while terminating
    (KEP-1669), so a Service whose every pod is shutting down still answers."""
    ready: list[Backend] = []
    terminating: list[Backend] = []
    for endpoint_slice in slices:
        if endpoint_slice.get("addressType", "IPv4") != "IPv4":
            continue
        port = next(
            (
                p
                for p in endpoint_slice.get("ports") or []
                if (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == "TCP"
            ),
            None,
        )
        if port is None or port.get("port") is None:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            try:
                hosts = [to_loopback(address) for address in endpoint.get("addresses") or []]
            except ValueError:
                continue  # not a sandbox pod: nothing here could carry its traffic
            if not hosts:
                continue
            backend = Backend(hosts[0], int(port["port"]))
            # A nil `ready` means ready, per the EndpointSlice API.
            if conditions.get("ready", True):
                ready.append(backend)
            elif conditions.get("serving") and conditions.get("terminating"):
                terminating.append(backend)
    return sorted(ready or terminating, key=lambda b: (b.host, b.port))


@dataclass
class _Listener:
    service_key: str
    port_name: str
    address: tuple[str, int]
    server: asyncio.Server | None = None


@dataclass
class _ServiceView:
    uid: str
    lb_ip: str | None = None
    listeners: dict[tuple[str, int], _Listener] = field(default_factory=dict)


class ServiceProxy:
    """Runs on an asyncio loop; informer threads feed it through `on_service` and `on_slice`,
    which hand every change to the loop, so all state below is touched by the loop alone."""

    def __init__(
        self,
        api: client.ApiClient,
        net: int,
        loop: asyncio.AbstractEventLoop,
        propagation_delay: float = DEFAULT_PROPAGATION_DELAY,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.net = net
        self.loop = loop
        self.propagation_delay = propagation_delay
        self._services: dict[str, _ServiceView] = {}
        self._slices: dict[str, dict[str, Obj]] = {}  # service key -> slice name -> slice
        self._round_robin: dict[tuple[str, str], itertools.count[int]] = {}
        self._lb_in_use: dict[str, str] = {}  # ip -> service key
        self._publishing: set[str] = set()  # service keys whose address is being written to their status
        # The loop holds tasks only weakly, and asyncio's server protocol lets go of a connection's
        # task once the client side is closed; a connection still waiting on its backend would
        # then be collected mid-flight ("Task was destroyed but it is pending!"), sockets unclosed.
        self._connections: set[asyncio.Task[None]] = set()

    # -- fed by informer threads -----------------------------------------------------------------

    def on_service(self, kind: str, service: Obj) -> None:
        self.loop.call_soon_threadsafe(self._apply_service, kind, service)

    def on_slice(self, kind: str, endpoint_slice: Obj) -> None:
        # Every change waits the same delay, so changes still apply in the order they came.
        self.loop.call_soon_threadsafe(
            self.loop.call_later, self.propagation_delay, self._apply_slice, kind, endpoint_slice
        )

    def _apply_slice(self, kind: str, endpoint_slice: Obj) -> None:
        meta = endpoint_slice["metadata"]
        service_name = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if not service_name:
            return
        key = f"{meta['namespace']}/{service_name}"
        slices = self._slices.setdefault(key, {})
        if kind == "DELETED":
            slices.pop(meta["name"], None)
        else:
            slices[meta["name"]] = endpoint_slice

    # -- on the loop -------------------------------------------------------------------------------

    def _apply_service(self, kind: str, service: Obj) -> None:
        meta = service["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        spec = service.get("spec") or {}
        kind_of_service = spec.get("type", "ClusterIP")
        view = self._services.get(key)
        if view is not None and (kind == "DELETED" or view.uid != meta.get("uid")):
            self._close_service(key, view)
            view = None
        if kind == "DELETED" or kind_of_service not in ("LoadBalancer", "NodePort"):
            return
        if view is None:
            view = _ServiceView(uid=meta.get("uid", ""))
            self._services[key] = view

        wanted: dict[tuple[str, int], str] = {}
        if kind_of_service == "LoadBalancer":
            if view.lb_ip is None:
                view.lb_ip = self._allocate_lb_ip(key, service)
            elif view.lb_ip not in _published(service) and key not in self._publishing:
                # The status lost it, or publishing it failed for longer than its retries: a load-balancer
                # controller reconciles, so this puts it back.
                self._publish_soon(key, view.lb_ip)
            if view.lb_ip is not None:
                for port in spec.get("ports") or []:
                    if (port.get("protocol") or "TCP") == "TCP":
                        wanted[(view.lb_ip, int(port["port"]))] = port.get("name") or ""
        for port in spec.get("ports") or []:
            if port.get("nodePort") and (port.get("protocol") or "TCP") == "TCP":
                wanted[("127.0.0.1", int(port["nodePort"]))] = port.get("name") or ""

        for address in list(view.listeners):
            if address not in wanted or view.listeners[address].port_name != wanted[address]:
                self._close_listener(view.listeners.pop(address))
        for address, port_name in wanted.items():
            if address not in view.listeners:
                listener = _Listener(key, port_name, address)
                view.listeners[address] = listener
                self.loop.create_task(self._open_listener(listener))

    def _allocate_lb_ip(self, key: str, service: Obj) -> str | None:
        published = _published(service)
        ip = next((p for p in published if self._lb_in_use.get(p) in (None, key)), None)
        if ip is None:
            used = set(self._lb_in_use)
            ip = next(
                (load_balancer_ip(self.net, i) for i in range(1, 255) if load_balancer_ip(self.net, i) not in used),
                None,
            )
            if ip is None:
                log.error("service %s: no free LoadBalancer address", key)
                return None
        self._lb_in_use[ip] = key
        if ip not in published:
            self._publish_soon(key, ip)
        return ip

    def _publish_soon(self, key: str, ip: str) -> None:
        self._publishing.add(key)
        future = self.loop.run_in_executor(None, self._publish, key, ip)
        future.add_done_callback(lambda _: self._publishing.discard(key))

    def _publish(self, key: str, ip: str) -> None:
        """Write the address into the Service's status; retried with back-off while the API server is away."""
        namespace, name = key.split("/", 1)
        body = {"status": {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]}}}
        delay, deadline = 0.5, time.monotonic() + PUBLISH_RETRY_S
        while True:
            try:
                self.core.patch_namespaced_service_status(
                    name, namespace, body, _content_type="application/merge-patch+json", _request_timeout=API_TIMEOUT
                )
                return
            except ApiException as exc:
                if exc.status == 404:
                    return  # the Service is gone
                problem: object = f"{exc.status} {exc.reason}"
            except Exception as exc:
                problem = exc
            if time.monotonic() + delay > deadline:
                log.warning("service %s: could not publish its address: %s", key, problem)
                return
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _close_service(self, key: str, view: _ServiceView) -> None:
        for listener in view.listeners.values():
            self._close_listener(listener)
        if view.lb_ip:
            self._lb_in_use.pop(view.lb_ip, None)
        self._services.pop(key, None)

    def _close_listener(self, listener: _Listener) -> None:
        if listener.server is not None:
            listener.server.close()
            listener.server = None

    async def _open_listener(self, listener: _Listener) -> None:
        host, port = listener.address
        try:
            server = await asyncio.start_server(
                lambda r, w: self._forward(listener, r, w), host, port, reuse_address=True
            )
        except OSError as exc:
            log.error("service %s: cannot listen on %s:%s: %s", listener.service_key, host, port, exc)
            return
        view = self._services.get(listener.service_key)
        if view is None or view.listeners.get(listener.address) is not listener:
            server.close()  # the Service changed while we were opening
            return
        listener.server = server
        log.info("service %s: listening on %s:%s", listener.service_key, host, port)

    def pick(self, service_key: str, port_name: str) -> Backend | None:
        slices = list(self._slices.get(service_key, {}).values())
        candidates = backends_for(slices, port_name)
        if not candidates:
            return None
        counter = self._round_robin.setdefault((service_key, port_name), itertools.count())
        return candidates[next(counter) % len(candidates)]

    async def _forward(self, listener: _Listener, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)
        backend = self.pick(listener.service_key, listener.port_name)
        if backend is None:
            writer.close()  # no endpoints: the connection fails, as with kube-proxy's REJECT
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(backend.host, backend.port)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()

    async def close(self) -> None:
        for key, view in list(self._services.items()):
            self._close_service(key, view)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction; pass on a half-close, and a reset as a reset."""
    try:
        while data := await reader.read(_BUFFER):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()
