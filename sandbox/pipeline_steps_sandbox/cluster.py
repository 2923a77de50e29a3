"""The handle end-to-end tests hold on their cluster: the sandbox, or any cluster named by
PIPELINE_STEPS_E2E_KUBECONFIG. The pytest plugin's `cluster` fixture yields one.

Tests talk to it with the official client directly: they check what pipeline-steps did, so they must
not go through its own adapter.
"""

from __future__ import annotations

import http.client
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

if TYPE_CHECKING:
    from pipeline_steps_sandbox.launcher import Launcher

FIELD_MANAGER = "pipeline-steps-tests"


@dataclass
class Cluster:
    kubeconfig: Path
    api: client.ApiClient
    #: The sandbox's launcher, or None on an external cluster.
    sandbox: Launcher | None
    kubectl: str

    @classmethod
    def connect(cls, kubeconfig: Path, sandbox: Launcher | None, kubectl: str) -> Cluster:
        api = config.new_client_from_config(config_file=str(kubeconfig))
        return cls(kubeconfig, api, sandbox, kubectl)

    @property
    def external(self) -> bool:
        return self.sandbox is None

    @property
    def data_plane(self) -> str | None:
        """The sandbox's data plane (`kube-proxy` or `python`); None on another cluster."""
        if self.sandbox is None:
            return None
        from pipeline_steps_sandbox.layout import SandboxState  # noqa: PLC0415

        state = SandboxState.load(self.sandbox.layout)
        return state.data_plane if state is not None else None

    def pod_address(self, pod_ip: str) -> str:
        """Where the host reaches a pod: its own IP on the real data plane (routed into the sandbox's
        namespaces), its loopback twin on the Python proxy's."""
        if self.data_plane == "python":
            from pipeline_steps_sandbox.addresses import to_loopback  # noqa: PLC0415

            return to_loopback(pod_ip)
        return pod_ip

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def discovery(self) -> client.DiscoveryV1Api:
        return client.DiscoveryV1Api(self.api)

    @property
    def coordination(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.api)

    # -- namespaces ---------------------------------------------------------------------------------

    def create_namespace(self, prefix: str) -> str:
        name = f"{prefix[:40].rstrip('-')}-{uuid.uuid4().hex[:6]}".lower()
        self.core.create_namespace({"metadata": {"name": name, "labels": {"pipeline-steps.dev/test": "true"}}})
        # Pods need the namespace's default ServiceAccount, which a controller creates shortly after.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.core.read_namespaced_service_account("default", name)
                return name
            except ApiException as exc:
                if exc.status != 404:
                    raise
                time.sleep(0.1)
        raise TimeoutError(f"namespace {name}: no default ServiceAccount after 30s")

    def delete_namespace(self, name: str) -> None:
        try:
            self.core.delete_namespace(name, grace_period_seconds=0)
        except ApiException as exc:
            if exc.status != 404:
                raise

    # -- objects ------------------------------------------------------------------------------------

    def apply(self, namespace: str, *docs: dict[str, Any]) -> None:
        dynamic = DynamicClient(self.api)
        for doc in docs:
            resource = dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            dynamic.server_side_apply(
                resource, body=doc, namespace=namespace, field_manager=FIELD_MANAGER, force_conflicts=True
            )

    def wait_for(self, what: str, list_func: Any, predicate: Any, timeout: float = 60.0, **kwargs: Any) -> Any:
        """Watch `list_func` until `predicate(obj)` holds for an object; return that object."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            listing = list_func(**kwargs)
            for item in listing.items:
                last = item
                if predicate(item):
                    return item
            remaining = int(deadline - time.monotonic())
            if remaining <= 0:
                break
            w = watch.Watch()
            for event in w.stream(
                list_func,
                resource_version=listing.metadata.resource_version,
                timeout_seconds=min(remaining, 30),
                **kwargs,
            ):
                last = event["object"]
                if event["type"] != "DELETED" and predicate(event["object"]):
                    w.stop()
                    return event["object"]
        raise TimeoutError(f"{what}: condition not met in {timeout}s; last seen: {last}")

    def wait_deployment_available(self, namespace: str, name: str, timeout: float = 90.0) -> Any:
        def rolled_out(d: Any) -> bool:
            s = d.status
            return bool(
                d.metadata.name == name
                and (s.observed_generation or 0) >= d.metadata.generation
                and (s.updated_replicas or 0) == d.spec.replicas
                and (s.available_replicas or 0) == d.spec.replicas
                and (s.replicas or 0) == d.spec.replicas
            )

        return self.wait_for(
            f"deployment {namespace}/{name}",
            self.apps.list_namespaced_deployment,
            rolled_out,
            timeout,
            namespace=namespace,
            field_selector=f"metadata.name={name}",
        )

    def service_url(self, namespace: str, name: str, timeout: float = 30.0, serving: bool = True) -> str:
        """http://address:port of a LoadBalancer Service, once its address is published and (with
        `serving`) it answers."""

        def published(s: Any) -> bool:
            return bool(s.metadata.name == name and s.status.load_balancer and s.status.load_balancer.ingress)

        service = self.wait_for(
            f"service {namespace}/{name} address",
            self.core.list_namespaced_service,
            published,
            timeout,
            namespace=namespace,
            field_selector=f"metadata.name={name}",
        )
        ingress = service.status.load_balancer.ingress[0]
        url = f"http://{ingress.ip or ingress.hostname}:{service.spec.ports[0].port}"
        _SERVICES_BY_URL[url] = (self, namespace, name)
        if serving:
            _wait_serving(url, timeout)
        return url

    def pods(self, namespace: str, selector: str = "") -> list[Any]:
        return list(self.core.list_namespaced_pod(namespace, label_selector=selector).items)

    def ready_endpoint_pods(self, namespace: str, service: str) -> set[str]:
        """The pods a Service's EndpointSlices list as ready now: where the data plane is heading."""
        slices = self.discovery.list_namespaced_endpoint_slice(
            namespace, label_selector=f"kubernetes.io/service-name={service}"
        ).items
        return {
            str(e.target_ref.name)
            for s in slices
            for e in s.endpoints or []
            if e.target_ref is not None and (e.conditions is None or e.conditions.ready is not False)
        }


#: The Service behind each URL `service_url` handed out, so that a test helper holding only the URL can
#: ask which pods the data plane should be sending to.
_SERVICES_BY_URL: dict[str, tuple[Cluster, str, str]] = {}


def service_behind(url: str) -> tuple[Cluster, str, str] | None:
    """(cluster, namespace, Service name) of a URL from `Cluster.service_url`, if it came from there."""
    return _SERVICES_BY_URL.get(url.rstrip("/"))


def _answers_2xx(url: str) -> bool:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=3.0)
    try:
        conn.request("GET", parts.path or "/")
        return 200 <= conn.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _wait_serving(url: str, timeout: float) -> None:
    """A new Service or endpoint reaches the data plane a moment after the API shows it."""
    deadline = time.monotonic() + timeout
    while not _answers_2xx(url):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{url} did not answer 2xx within {timeout}s")
        time.sleep(0.1)
