"""Which way verify reaches a Service, and the URL that way gives: pure decisions, tested without a cluster.

The setting (`access.staged`, `access.prod`) names a mode; without one the Service's own type decides: a
LoadBalancer is reached at its load balancer address, anything else through the apiserver's service proxy,
which works from any CI agent holding the kubeconfig (a ClusterIP is unreachable from outside the cluster).
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pipeline_steps.config.access import StageAccess
from pipeline_steps.errors import ConfigError

#: The fix for a mode that cannot work where the checks run.
OUTSIDE_HINT = "from outside the cluster use `mode: apiserver-proxy` (or port-forward), or give `url:`"


@dataclasses.dataclass(frozen=True)
class Where:
    """Where a problem with a stage's access setting is: the file and the setting, for the error."""

    source: str
    stage: str

    def field(self, key: str = "mode") -> str:
        return f"access.{self.stage}.{key}"

    def error(self, message: str, hint: str, key: str = "mode") -> ConfigError:
        return ConfigError(message, source=self.source, field=self.field(key), hint=hint)


def service_type(service: dict[str, Any]) -> str:
    return str((service.get("spec") or {}).get("type") or "ClusterIP")


def default_mode(kind: str) -> str:
    """The mode a Service's type implies: its load balancer if it has one, else the apiserver proxy."""
    return "loadbalancer" if kind == "LoadBalancer" else "apiserver-proxy"


def decide_mode(access: StageAccess, service: dict[str, Any] | None, name: str | None, where: Where) -> str:
    """The mode this stage uses: the setting's, or the Service's type's; an error when it cannot work."""
    chosen = access.chosen_mode
    if chosen == "url":
        return chosen
    if service is None:
        raise where.error(
            f"Service {name} is not in the cluster, so verify has nothing to reach",
            "deploy first, or name the Service the manifests hold; or give `url:`",
        )
    kind = service_type(service)
    if kind == "ExternalName":
        raise where.error(
            f"Service {name} is an ExternalName: neither the apiserver nor a load balancer reaches it",
            "give the address the checks should use as `url:`",
        )
    if chosen is None:
        return default_mode(kind)
    if chosen == "loadbalancer" and kind != "LoadBalancer":
        raise where.error(
            f"Service {name} is of type {kind}: it never gets a load balancer address",
            "set `mode: apiserver-proxy` (or leave `mode` out: the Service's type decides), "
            "or make the Service `type: LoadBalancer`",
        )
    return chosen


def service_port(service: dict[str, Any], wanted: str | None, where: Where) -> dict[str, Any]:
    """The Service port the checks use: the one named or numbered `wanted`, else the first."""
    ports = list((service.get("spec") or {}).get("ports") or [])
    name = (service.get("metadata") or {}).get("name")
    if not ports:
        raise where.error(f"Service {name} has no ports", "give the Service a port", key="port")
    if wanted is None:
        return dict(ports[0])
    for port in ports:
        if wanted in (str(port.get("name") or ""), str(port.get("port"))):
            return dict(port)
    known = ", ".join(str(p.get("name") or p.get("port")) for p in ports)
    raise where.error(f"Service {name} has no port {wanted!r} (its ports: {known})", f"use one of: {known}", key="port")


def proxy_port_ref(port: dict[str, Any]) -> str:
    """How the service proxy path names a port: by name when it has one (a single unnamed port: its number)."""
    return str(port.get("name") or port["port"])


def proxy_base_url(api_host: str, namespace: str, name: str, port: dict[str, Any]) -> str:
    """The apiserver's service proxy for `name`: requests under it reach a ready endpoint of the Service."""
    quoted = urllib.parse.quote(f"{name}:{proxy_port_ref(port)}", safe=":")
    return f"{api_host.rstrip('/')}/api/v1/namespaces/{namespace}/services/{quoted}/proxy"


def cluster_dns_host(name: str, namespace: str) -> str:
    return f"{name}.{namespace}.svc"


def cluster_dns_base_url(name: str, namespace: str, port: dict[str, Any]) -> str:
    return f"http://{cluster_dns_host(name, namespace)}:{port['port']}"


def loadbalancer_host(service: dict[str, Any] | None) -> tuple[str, bool] | None:
    """The Service's load balancer address and whether it is a hostname (which must resolve before use)."""
    ingress = (((service or {}).get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    if not ingress:
        return None
    if ingress[0].get("ip"):
        return str(ingress[0]["ip"]), False
    if ingress[0].get("hostname"):
        return str(ingress[0]["hostname"]), True
    return None


def loadbalancer_base_url(host: str, port: dict[str, Any]) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port['port']}"


def ready_pod(slices: Iterable[dict[str, Any]], port: dict[str, Any]) -> tuple[str, int] | None:
    """A ready pod behind a Service and its port for the Service port `port`, from the Service's EndpointSlices
    (whose ports are the pods' target ports, named as the Service's), or None when no pod is ready."""
    wanted = str(port.get("name") or "")
    for endpoint_slice in slices:
        numbers = [p.get("port") for p in endpoint_slice.get("ports") or [] if str(p.get("name") or "") == wanted]
        if not numbers or numbers[0] is None:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            ref = endpoint.get("targetRef") or {}
            ready = (endpoint.get("conditions") or {}).get("ready")
            if ref.get("kind") == "Pod" and ref.get("name") and ready is not False:
                return str(ref["name"]), int(numbers[0])
    return None


def wait_until_resolves(
    host: str,
    timeout: float,
    *,
    resolves: Callable[[str], bool],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    every: float = 5.0,
) -> bool:
    """Whether `host` resolved within `timeout`. A cloud load balancer's DNS name (AWS) is published before it
    resolves, for a minute or more; DNS has no watch, so this asks again every few seconds."""
    return poll_until(lambda: resolves(host), timeout, clock=clock, sleep=sleep, every=every)


def poll_until(
    condition: Callable[[], bool],
    timeout: float,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    every: float,
) -> bool:
    """Whether `condition()` came true within `timeout`, asked every `every` seconds (for what has no watch)."""
    deadline = clock() + timeout
    while True:
        if condition():
            return True
        remaining = deadline - clock()
        if remaining <= 0:
            return False
        sleep(min(every, remaining))


def modes_in_use(
    access: Mapping[str, StageAccess], services: Mapping[str, Mapping[str, str | None]], known_types: Mapping[str, str]
) -> set[str]:
    """The modes a release's stages use (for the permissions they need), read from the config and the manifests:
    `access` by stage, the Services each stage checks (`services[stage]`: role -> name, None: none), and
    the types of the manifests' Services. A Service the manifests do not hold counts as a ClusterIP."""
    modes = set()
    for stage, setting in access.items():
        for name in services.get(stage, {}).values():
            chosen = setting.chosen_mode
            if chosen is None and name is not None:
                chosen = default_mode(known_types.get(name, "ClusterIP"))
            if chosen is not None:
                modes.add(chosen)
    return modes
