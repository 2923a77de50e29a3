"""Reaching the Service a stage's checks are sent to, the way `access.<stage>` says (or the Service's type implies):
its load balancer, an explicit URL, the apiserver's service proxy, a port forward, or cluster DNS."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import time
from collections.abc import Iterator, Sequence

import requests

from pipeline_steps.checks import CheckSpec, HttpCheckSpec
from pipeline_steps.checks import access as decide
from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import ClusterError
from pipeline_steps.kube import service_access
from pipeline_steps.kube.cluster import WaitTimeout


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where a stage's checks go: the base URL their paths are joined to, and the session that sends them."""

    base_url: str | None
    session: requests.Session
    mode: str | None = None
    #: What the report shows as the stage's URL (a port forward's local port means nothing after the run).
    shown: str | None = None


def needs_endpoint(checks: Sequence[CheckSpec]) -> bool:
    """Whether any check uses the base URL: a path to join to it, `{base_url}`, or a command (given BASE_URL)."""
    return any(not isinstance(c, HttpCheckSpec) or not c.url or "{base_url}" in c.url for c in checks)


def _resolves(host: str) -> bool:
    try:
        socket.getaddrinfo(host, None)
    except (OSError, UnicodeError):
        return False
    return True


@contextlib.contextmanager
def reach(ctx: ReleaseContext, stage: str, name: str | None, checks: Sequence[CheckSpec]) -> Iterator[Endpoint]:
    """The endpoint of Service `name` for `stage`'s checks, open while the block runs (a port forward listens)."""
    access = ctx.config.access.staged if stage == "staged" else ctx.config.access.prod
    where = decide.Where(str(ctx.config.path), stage)
    if access.chosen_mode == "url":
        yield Endpoint(access.url, requests.Session(), "url", access.url)
        return
    if name is None or not needs_endpoint(checks):
        yield Endpoint(None, requests.Session())
        return
    service = ctx.cluster.get("v1", "Service", name)
    mode = decide.decide_mode(access, service, name, where)
    assert service is not None
    port = decide.service_port(service, access.port, where)
    namespace = ctx.cluster.namespace
    api = ctx.cluster.api
    if mode == "loadbalancer":
        url = _loadbalancer_url(ctx, name, port, access.loadbalancer_timeout_s, where)
        yield Endpoint(url, requests.Session(), mode, url)
    elif mode == "cluster-dns":
        host = decide.cluster_dns_host(name, namespace)
        if not _resolves(host):
            outside = "" if os.environ.get("KUBERNETES_SERVICE_HOST") else " (this runner is not in a pod)"
            raise where.error(
                f"{host} does not resolve here{outside}: cluster-dns works only on a runner inside the cluster",
                decide.OUTSIDE_HINT,
            )
        url = decide.cluster_dns_base_url(name, namespace, port)
        yield Endpoint(url, requests.Session(), mode, url)
    elif mode == "apiserver-proxy":
        _require(ctx, where, "get", "services", "proxy")
        url = decide.proxy_base_url(service_access.apiserver_host(api), namespace, name, port)
        ctx.progress(f"{stage} checks reach Service {name} through the apiserver proxy")
        yield Endpoint(url, service_access.apiserver_session(api), mode, url)
    else:  # port-forward
        _require(ctx, where, "create", "pods", "portforward")

        def pick_pod() -> tuple[str, int]:
            slices = ctx.cluster.list(
                "discovery.k8s.io/v1", "EndpointSlice", label_selector=f"kubernetes.io/service-name={name}"
            )
            found = decide.ready_pod(slices, port)
            if found is None:
                raise ClusterError(f"Service {name} has no ready pod to forward to")
            return found

        forward = service_access.PortForward(api, namespace, pick_pod, on_problem=ctx.progress)
        with forward.running() as url:
            ctx.progress(f"{stage} checks reach Service {name} through a port forward at {url}")
            yield Endpoint(url, requests.Session(), mode, None)


def _require(ctx: ReleaseContext, where: decide.Where, verb: str, resource: str, subresource: str) -> None:
    """Refuse early, naming the setting, when the credentials may not use the mode (a 403 on every attempt
    would read as a failing release)."""
    namespace = ctx.cluster.namespace
    if service_access.allowed(ctx.cluster.api, namespace, verb, resource, subresource) is False:
        raise where.error(
            f"the cluster credentials may not {verb} {resource}/{subresource} in namespace {namespace}",
            "grant it (`pipeline-steps rbac` prints the Role; the built-in `edit` role has it), or choose another mode",
        )


def _loadbalancer_url(
    ctx: ReleaseContext, name: str, port: dict[str, object], timeout: float, where: decide.Where
) -> str:
    started = time.monotonic()
    try:
        objects = ctx.cluster.wait(
            "v1",
            "Service",
            name=name,
            done=lambda objs: decide.loadbalancer_host(objs.get(name)) is not None,
            describe=lambda objs: f"service {name}: waiting for its load balancer address",
            timeout=timeout,
            on_progress=ctx.progress,
        )
    except WaitTimeout as exc:
        raise ClusterError(
            f"Service {name} got no load balancer address: {exc.message}",
            hint=f"raise {where.field('loadbalancer_timeout')}, check the cluster's load balancer controller, or "
            "reach the Service another way (mode: apiserver-proxy)",
        ) from exc
    found = decide.loadbalancer_host(objects.get(name))
    assert found is not None
    host, is_name = found
    if is_name:
        ctx.progress(f"service {name}: waiting until its load balancer's name {host} resolves")
        left = max(0.0, timeout - (time.monotonic() - started))
        if not decide.wait_until_resolves(host, left, resolves=_resolves, clock=time.monotonic, sleep=time.sleep):
            raise ClusterError(
                f"Service {name}: its load balancer's name {host} did not resolve within {timeout:.0f}s",
                hint=f"raise {where.field('loadbalancer_timeout')}, or check the DNS this runner uses",
            )
    # A new load balancer is published before it carries traffic (a cloud's takes minutes to provision,
    # kube-proxy programs a new address at its next sync): checks start once it accepts connections, so
    # that a first release's verify-prod does not spend its attempts on an address still being set up.
    number = int(str(port["port"]))
    if not _accepts(host, number):
        ctx.progress(f"service {name}: waiting until its load balancer {host}:{number} accepts connections")
        left = max(0.0, timeout - (time.monotonic() - started))
        if not decide.poll_until(
            lambda: _accepts(host, number), left, clock=time.monotonic, sleep=time.sleep, every=1.0
        ):
            raise ClusterError(
                f"Service {name}: its load balancer {host}:{number} accepted no connection within {timeout:.0f}s",
                hint=f"raise {where.field('loadbalancer_timeout')}, check the load balancer's listeners and the "
                "firewall between this runner and it, or reach the Service another way (mode: apiserver-proxy)",
            )
    return decide.loadbalancer_base_url(host, port)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=3.0):
            return True
    except OSError:
        return False
