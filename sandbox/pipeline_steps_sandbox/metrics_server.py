"""The node agent's metrics API on HTTPS, and its registration with the apiserver's aggregator.

Reached the way the aggregator reaches any extension API server: an APIService
`v1beta1.metrics.k8s.io` names a Service, and the aggregator resolves an `ExternalName` Service to
its external name (k8s.io/apiserver/pkg/util/proxy ResolveCluster), here 127.0.0.1, at the port the
APIService gives. The aggregator checks this server's certificate against the APIService's caBundle
(the sandbox CA) for the name `<service>.<namespace>.svc`, and shows the front-proxy client
certificate; this server trusts the X-Remote-User headers only from that certificate, as
metrics-server's request-header authentication does. Authorization is left to the apiserver, which
has already checked the user's RBAC before proxying (metrics-server asks again with a
SubjectAccessReview; the sandbox does not).
"""

from __future__ import annotations

import base64
import json
import logging
import ssl
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from pipeline_steps_sandbox.certs import (
    FRONT_PROXY_CLIENT,
    METRICS_SERVICE_NAME,
    METRICS_SERVICE_NAMESPACE,
    PkiPaths,
)
from pipeline_steps_sandbox.metrics_api import GROUP, VERSION, Snapshot, answer, status
from pipeline_steps_sandbox.tls_server import TlsHttpServer

log = logging.getLogger(__name__)

API_SERVICE_NAME = f"{VERSION}.{GROUP}"
#: Where the aggregator reaches the agent: an ExternalName may be an address, and the agent runs on the host.
LISTEN_HOST = "127.0.0.1"
_MERGE_PATCH = "application/merge-patch+json"
_MANAGED_BY = {"app.kubernetes.io/managed-by": "pipeline-steps-sandbox"}


def front_proxy_user(
    peer_certificate: Mapping[str, Any] | None, remote_user: str | None, allowed_names: tuple[str, ...]
) -> str | None:
    """The user the aggregator vouches for, or None: the headers count only from a verified front-proxy
    client certificate whose common name is allowed (the TLS layer has already checked its signature)."""
    if not peer_certificate:
        return None
    common_names = [value for rdn in peer_certificate.get("subject", ()) for key, value in rdn if key == "commonName"]
    if not any(name in allowed_names for name in common_names):
        return None
    return remote_user or None


def tls_context(pki: PkiPaths) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(pki.metrics_serving_cert), str(pki.metrics_serving_key))
    context.load_verify_locations(cafile=str(pki.front_proxy_ca_cert))
    # Optional at the TLS layer, so a client without the certificate hears a 401 rather than a broken handshake.
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def _handler(snapshot: Callable[[], Snapshot]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sandbox-metrics/1"

        def _send(self, code: int, body: dict[str, Any] | str) -> None:
            text = body if isinstance(body, str) else json.dumps(body)
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _answer(self) -> None:
            url = urlsplit(self.path)
            if url.path in ("/healthz", "/livez", "/readyz"):
                self._send(200, "ok")
                return
            assert isinstance(self.connection, ssl.SSLSocket)
            user = front_proxy_user(
                self.connection.getpeercert(), self.headers.get("X-Remote-User"), (FRONT_PROXY_CLIENT.user,)
            )
            if user is None:
                self._send(401, status(401, "Unauthorized", "Unauthorized: only the apiserver's front proxy may ask"))
                return
            code, body = answer(self.command, url.path, url.query, snapshot())
            self._send(code, body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("metrics: %s %s", self.address_string(), format % args)

    return Handler


class MetricsServer:
    """Serves the metrics API on LISTEN_HOST at a free port, from a thread of its own."""

    def __init__(self, pki: PkiPaths, snapshot: Callable[[], Snapshot], port: int = 0) -> None:
        self.server = TlsHttpServer((LISTEN_HOST, port), _handler(snapshot), tls_context(pki), "metrics")
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics-api", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def registration(port: int, ca_bundle: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Service and APIService that route metrics.k8s.io to the agent at 127.0.0.1:`port`."""
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": METRICS_SERVICE_NAME, "namespace": METRICS_SERVICE_NAMESPACE, "labels": _MANAGED_BY},
        "spec": {
            "type": "ExternalName",
            "externalName": LISTEN_HOST,
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        },
    }
    api_service = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": API_SERVICE_NAME, "labels": _MANAGED_BY},
        "spec": {
            "group": GROUP,
            "version": VERSION,
            "service": {"name": METRICS_SERVICE_NAME, "namespace": METRICS_SERVICE_NAMESPACE, "port": port},
            "caBundle": base64.b64encode(ca_bundle).decode(),
            # metrics-server's priorities.
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }
    return service, api_service


def register(api: client.ApiClient, port: int, ca_bundle: bytes) -> None:
    """Create or update the Service and APIService (a restarted agent listens on another port)."""
    service, api_service = registration(port, ca_bundle)
    core = client.CoreV1Api(api)
    registrations = client.ApiregistrationV1Api(api)
    try:
        core.create_namespaced_service(METRICS_SERVICE_NAMESPACE, service)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.patch_namespaced_service(
            METRICS_SERVICE_NAME, METRICS_SERVICE_NAMESPACE, service, _content_type=_MERGE_PATCH
        )
    try:
        registrations.create_api_service(api_service)
    except ApiException as exc:
        if exc.status != 409:
            raise
        registrations.patch_api_service(API_SERVICE_NAME, api_service, _content_type=_MERGE_PATCH)


def deregister(api: client.ApiClient) -> None:
    try:
        client.ApiregistrationV1Api(api).delete_api_service(API_SERVICE_NAME)
    except ApiException as exc:
        if exc.status != 404:
            raise
    try:
        client.CoreV1Api(api).delete_namespaced_service(METRICS_SERVICE_NAME, METRICS_SERVICE_NAMESPACE)
    except ApiException as exc:
        if exc.status != 404:
            raise


def keep_registering(api: client.ApiClient, port: int, ca_bundle: bytes, stop: threading.Event) -> None:
    """Register, trying again while the apiserver is away (it may be restarting as the agent starts)."""
    while not stop.is_set():
        try:
            register(api, port, ca_bundle)
            log.info("metrics API registered: %s -> %s:%d", API_SERVICE_NAME, LISTEN_HOST, port)
            return
        except Exception as exc:
            log.warning("metrics API registration failed (%s); trying again", exc)
        stop.wait(2.0)
