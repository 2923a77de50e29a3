"""Reaching a Service through the apiserver, with the kubeconfig's own credentials: its service proxy (an HTTP
session whose requests to the apiserver go through the kubernetes client's connections and authentication) and
a port forward to one of its pods (a local port whose connections each open `pods/portforward`)."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward
from requests.adapters import HTTPAdapter

from pipeline_steps.kube.errors import call

#: The pod and the pod's port a new forwarded connection goes to (decided per connection: pods come and go).
PickPod = Callable[[], tuple[str, int]]


class _KubeClientAdapter(HTTPAdapter):
    """Sends a request to the apiserver over the kubernetes client's own connection pool (its CA, client
    certificate, TLS server name and proxy) with its current credentials (an exec plugin's token is refreshed
    as the client refreshes it). Mounted for the apiserver's address only: no other host sees them."""

    def __init__(self, api: client.ApiClient) -> None:
        super().__init__(max_retries=0)
        self._api = api

    def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None, cert: Any = None) -> Any:
        return self._api.rest_client.pool_manager.connection_from_url(request.url)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """The pool's TLS settings are the kubeconfig's; requests' own (the environment's CA bundle) do not apply."""

    def request_url(self, request: Any, proxies: Any) -> str:
        return str(request.path_url)

    def add_headers(self, request: Any, **kwargs: Any) -> None:
        for setting in self._api.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                request.headers[setting["key"]] = setting["value"]


def apiserver_session(api: client.ApiClient) -> requests.Session:
    """A session that sends requests under the apiserver's address with the kubeconfig's credentials."""
    session = requests.Session()
    session.mount(str(api.configuration.host).rstrip("/") + "/", _KubeClientAdapter(api))
    return session


def apiserver_host(api: client.ApiClient) -> str:
    return str(api.configuration.host).rstrip("/")


def allowed(api: client.ApiClient, namespace: str, verb: str, resource: str, subresource: str) -> bool | None:
    """Whether the credentials may do `verb` on `resource/subresource` in `namespace` (a SelfSubjectAccessReview,
    which every authenticated identity may create); None when the cluster cannot say."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {
            "resourceAttributes": {
                "namespace": namespace,
                "verb": verb,
                "resource": resource,
                "subresource": subresource,
            }
        },
    }
    try:
        answer = call(
            f"review access to {resource}/{subresource}",
            lambda: client.AuthorizationV1Api(api).create_self_subject_access_review(review),
            retry_for=10,
        )
    except Exception:  # the check is a courtesy: the request itself says what is wrong
        return None
    status = getattr(answer, "status", None)
    return bool(status.allowed) if status is not None else None


class PortForward:
    """A listening port on 127.0.0.1; each connection to it is forwarded through the apiserver to a ready pod
    (`pick_pod`), as `kubectl port-forward service/NAME` does."""

    def __init__(self, api: client.ApiClient, namespace: str, pick_pod: PickPod, on_problem: Callable[[str], None]):
        self._api = api
        self._namespace = namespace
        self._pick_pod = pick_pod
        self._on_problem = on_problem
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        """The forward, listening while the block runs; yields its base URL (http://127.0.0.1:PORT)."""
        self._listener = socket.create_server(("127.0.0.1", 0))
        port = self._listener.getsockname()[1]
        accepting = threading.Thread(target=self._accept, name=f"port-forward {port}", daemon=True)
        accepting.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            self._stopped.set()
            self._listener.close()
            with self._lock:
                for open_socket in list(self._open):
                    with contextlib.suppress(OSError):
                        open_socket.close()
            accepting.join(timeout=5)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                local, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._forward, args=(local,), name="port-forward connection", daemon=True).start()

    def _forward(self, local: socket.socket) -> None:
        with self._lock:
            self._open.add(local)
        forward: Any = None
        try:
            pod, port = self._pick_pod()
            # A client of its own: `portforward` swaps the client's transport while it opens the stream.
            core = client.CoreV1Api(client.ApiClient(self._api.configuration))
            forward = portforward(core.connect_get_namespaced_pod_portforward, pod, self._namespace, ports=str(port))
            _pump(local, forward.socket(port), self._stopped)
            error = forward.error(port)
            if error:
                self._on_problem(f"port-forward to pod {pod} port {port}: {error}")
        except ApiException as exc:
            self._on_problem(f"port-forward: {exc.status} {exc.reason}")
        except Exception as exc:  # one connection's failure: the check that made it fails and says so
            self._on_problem(f"port-forward: {exc}")
        finally:
            with self._lock:
                self._open.discard(local)
            with contextlib.suppress(OSError):
                local.close()
            if forward is not None:
                with contextlib.suppress(Exception):
                    forward.close()


def _pump(local: socket.socket, remote: Any, stopped: threading.Event) -> None:
    """Copy bytes both ways until either side closes."""
    peers = {local.fileno(): (local, remote), remote.fileno(): (remote, local)}
    while not stopped.is_set():
        readable, _, _ = select.select(list(peers), [], [], 1.0)
        for fd in readable:
            source, sink = peers[fd]
            data = source.recv(65536)
            if not data:
                return
            sink.sendall(data)
