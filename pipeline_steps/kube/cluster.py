"""The cluster adapter the steps use: reads, server-side apply (with dry-run), patches, and watches.

Every object crosses this boundary as a plain dict, as the API server sends it, so the steps and the
readiness predicates never see client models.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from pipeline_steps.errors import ClusterError, ConfigError
from pipeline_steps.kube.conflicts import conflict_error, field_conflicts, only_managers
from pipeline_steps.kube.errors import call, refused_body, translate
from pipeline_steps.kube.ownership import CLIENT_SIDE_MANAGERS

FIELD_MANAGER = "pipeline-steps"
#: Holds a Deployment's replicas at their live value while the manifests stop setting them (see
#: strategies/autoscaling.py): the field is then not reset to 1 when our own manager lets go of it.
REPLICAS_HANDOVER_MANAGER = "pipeline-steps-replicas-handover"
OUR_MANAGERS = (FIELD_MANAGER, REPLICAS_HANDOVER_MANAGER)
ANNOTATION_PREFIX = "pipeline-steps.dev/"

Objects = dict[str, dict[str, Any]]
#: Every request is bounded (connect, read seconds): an API server that accepts and never answers (frozen,
#: a half-open connection) fails the call, which is then retried within its bound, instead of hanging CI.
REQUEST_TIMEOUT = (10.0, 30.0)


class WaitTimeout(ClusterError):
    """A wait ran out of time; the cluster answered, the state did not come."""


Progress = Callable[[str], None]


def _bound_every_request(api: client.ApiClient) -> None:
    """Give every request of `api` REQUEST_TIMEOUT unless it names its own: the client's discovery and the calls
    made through it directly (the release lock, the approval record) have none, and would wait for ever on a
    server that accepts and never answers. A watch is left as its caller made it (a client shared with code of
    one's own may watch for longer than a read timeout; the server ends a watch at its timeoutSeconds)."""
    rest = api.rest_client
    if getattr(rest, "_pipeline_steps_bounded", False):
        return
    unbounded = rest.request

    def request(method: str, url: str, *args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        if _request_timeout is None and "watch=true" not in url.partition("?")[2].lower():
            _request_timeout = REQUEST_TIMEOUT
        return unbounded(method, url, *args, _request_timeout=_request_timeout, **kwargs)

    rest.request = request
    rest._pipeline_steps_bounded = True


class KubeCluster:
    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        _bound_every_request(api)
        self.api = api
        self.namespace = namespace
        self._dynamic: DynamicClient | None = None

    @property
    def identity(self) -> str:
        """The API server's host and port, as a file name: what keys this cluster's local files."""
        host = str(self.api.configuration.host or "cluster").split("://", 1)[-1]
        return re.sub(r"[^A-Za-z0-9.-]+", "_", host).strip("_") or "cluster"

    @property
    def verifies_tls(self) -> bool:
        return bool(getattr(self.api.configuration, "verify_ssl", True))

    @property
    def dynamic(self) -> DynamicClient:
        if self._dynamic is None:
            self._dynamic = call("discover the API", lambda: DynamicClient(self.api))
        return self._dynamic

    def resource(self, api_version: str, kind: str) -> Any:
        try:
            return call(f"discover {kind}", lambda: self.dynamic.resources.get(api_version=api_version, kind=kind))
        except ResourceNotFoundError as exc:
            raise ConfigError(
                f"the cluster does not serve {kind} in {api_version}",
                hint="use an API version the cluster serves (kubectl api-resources lists them)",
            ) from exc

    # -- reads ----------------------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, name: str) -> dict[str, Any] | None:
        resource = self.resource(api_version, kind)

        def read() -> dict[str, Any] | None:
            try:
                found = resource.get(name=name, namespace=self._ns(resource), _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            return dict(found.to_dict())

        return call(f"read {kind}/{name}", read)

    def list(self, api_version: str, kind: str, *, label_selector: str = "") -> list[dict[str, Any]]:
        resource = self.resource(api_version, kind)
        listing = call(
            f"list {kind}",
            lambda: resource.get(
                namespace=self._ns(resource), label_selector=label_selector, _request_timeout=REQUEST_TIMEOUT
            ),
        )
        return [dict(item) for item in listing.to_dict().get("items") or []]

    def namespace_exists(self) -> bool:
        try:
            return self.get("v1", "Namespace", self.namespace) is not None
        except ClusterError as exc:
            # A CI identity with least privilege (a Role in its namespace) may not read Namespace objects,
            # which are cluster-wide; it works in a namespace that exists, so it does not create one.
            if exc.status == 403:
                return True
            raise

    # -- writes ---------------------------------------------------------------------------------------

    def apply(
        self,
        body: Mapping[str, Any],
        *,
        dry_run: bool = False,
        force: bool = False,
        field_manager: str = FIELD_MANAGER,
    ) -> dict[str, Any]:
        """Server-side apply as field manager `pipeline-steps`. A field another manager set to another value
        stops it (ApplyConflict, naming them) unless `force`; fields only our own managers hold (an earlier
        patch of ours, the replicas handover) are taken over without asking."""
        resource = self.resource(body["apiVersion"], body["kind"])
        name = body["metadata"]["name"]
        action = f"apply {body['kind']}/{name}{' (dry-run)' if dry_run else ''}"

        def send(forced: bool) -> Any:
            kwargs: dict[str, Any] = {
                "field_manager": field_manager,
                "force_conflicts": forced,
                "_request_timeout": REQUEST_TIMEOUT,
            }
            if dry_run:
                kwargs["dry_run"] = "All"
            try:
                return self.dynamic.server_side_apply(resource, body=dict(body), namespace=self._ns(resource), **kwargs)
            except ApiException as exc:
                conflicts = field_conflicts(exc.body) if exc.status == 409 else []
                if not conflicts:
                    raise
                # A plan's dry-run runs before deploy takes client-side apply's (and Helm's) fields over
                # (strategies/owners.py); by the real apply they are ours.
                ours = OUR_MANAGERS + (tuple(CLIENT_SIDE_MANAGERS) if dry_run else ())
                if only_managers(conflicts, ours):
                    return send(True)
                raise conflict_error(body["kind"], name, conflicts) from exc

        try:
            applied = call(action, lambda: send(force))
        except ClusterError as exc:
            # A dry-run applies a manifest as written: a body the server refuses is bad input, and nothing changed.
            if dry_run and refused_body(exc.status, exc.message):
                raise ConfigError(
                    f"the API server refuses {body['kind']}/{name}: {exc.message.split(': ', 1)[-1]}",
                    hint="fix the manifest where the API server's message points",
                ) from exc
            raise
        return dict(applied.to_dict())

    def scale(self, name: str, replicas: int) -> None:
        """Set a Deployment's replicas through its scale subresource, as an autoscaler or `kubectl scale` does:
        the field stays out of the manifests' apply, so an HPA can take it over again."""
        apps = client.AppsV1Api(self.api)
        call(
            f"scale Deployment/{name} to {replicas}",
            lambda: apps.patch_namespaced_deployment_scale(
                name,
                self.namespace,
                {"spec": {"replicas": replicas}},
                field_manager=FIELD_MANAGER,
                _content_type="application/merge-patch+json",
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )

    def merge_patch(self, api_version: str, kind: str, name: str, patch: Mapping[str, Any]) -> dict[str, Any]:
        resource = self.resource(api_version, kind)
        patched = call(
            f"patch {kind}/{name}",
            lambda: resource.patch(
                name=name,
                namespace=self._ns(resource),
                body=dict(patch),
                content_type="application/merge-patch+json",
                field_manager=FIELD_MANAGER,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        return dict(patched.to_dict())

    def replace_field(self, api_version: str, kind: str, name: str, path: str, value: Any) -> dict[str, Any]:
        """JSON-patch one field as a whole (e.g. /spec/template), leaving every other field and its owner alone."""
        resource = self.resource(api_version, kind)
        patched = call(
            f"patch {kind}/{name}",
            lambda: resource.patch(
                name=name,
                namespace=self._ns(resource),
                body=[{"op": "replace", "path": path, "value": value}],
                content_type="application/json-patch+json",
                field_manager=FIELD_MANAGER,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        return dict(patched.to_dict())

    def delete(self, api_version: str, kind: str, name: str, *, resource_version: str | None = None) -> bool:
        """Delete; False when it is gone already or, given `resource_version`, was changed since it was read."""
        resource = self.resource(api_version, kind)
        body = {"preconditions": {"resourceVersion": resource_version}} if resource_version else None

        def remove() -> bool:
            try:
                resource.delete(name=name, namespace=self._ns(resource), body=body, _request_timeout=REQUEST_TIMEOUT)
            except ApiException as exc:
                # 409 with a precondition: someone wrote it since; retrying would never match again.
                if exc.status == 404 or (exc.status == 409 and resource_version):
                    return False
                raise
            return True

        return call(f"delete {kind}/{name}", remove)

    # -- waits ----------------------------------------------------------------------------------------

    def wait(
        self,
        api_version: str,
        kind: str,
        *,
        done: Callable[[Objects], bool],
        describe: Callable[[Objects], str],
        timeout: float,
        label_selector: str = "",
        name: str | None = None,
        failed: Callable[[Objects], str | None] = lambda _: None,
        on_progress: Progress | None = None,
    ) -> Objects:
        """Follow objects by watch until `done(objects)`; raise ClusterError(retryable=False) on timeout
        and return early with the objects when `failed` says why the wait cannot succeed (the caller decides)."""
        resource = self.resource(api_version, kind)
        field_selector = f"metadata.name={name}" if name else None
        deadline = time.monotonic() + timeout
        last_message = ""

        def report(objects: Objects) -> None:
            nonlocal last_message
            message = describe(objects)
            if on_progress and message != last_message:
                on_progress(message)
            last_message = message

        while True:
            listing = call(
                f"list {kind}",
                lambda: resource.get(
                    namespace=self._ns(resource),
                    label_selector=label_selector,
                    field_selector=field_selector,
                    _request_timeout=REQUEST_TIMEOUT,
                ),
            ).to_dict()
            objects: Objects = {item["metadata"]["name"]: item for item in listing.get("items") or []}
            version = (listing.get("metadata") or {}).get("resourceVersion")
            report(objects)
            if done(objects) or failed(objects):
                return objects
            try:
                while (remaining := deadline - time.monotonic()) > 0:
                    seconds = max(1, int(min(remaining, 60)))
                    # The server ends the watch after `seconds`; the client's read timeout just beyond it
                    # ends a stream that went silent (a frozen API server) so the wait lists again.
                    for event in watch.Watch().stream(
                        resource.get,
                        namespace=self._ns(resource),
                        label_selector=label_selector or None,
                        field_selector=field_selector,
                        resource_version=version,
                        serialize=False,
                        timeout_seconds=seconds,
                        _request_timeout=(REQUEST_TIMEOUT[0], seconds + 10),
                    ):
                        obj = event["raw_object"]
                        if event["type"] == "ERROR":
                            raise ApiException(status=obj.get("code", 500), reason=obj.get("message", "watch error"))
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] == "DELETED":
                            objects.pop(obj["metadata"]["name"], None)
                        else:
                            objects[obj["metadata"]["name"]] = obj
                        report(objects)
                        if done(objects) or failed(objects):
                            return objects
                raise WaitTimeout(f"timed out after {timeout:.0f}s: {last_message}")
            except ApiException as exc:
                if exc.status != 410:  # 410 Gone: our resourceVersion is too old; list again
                    raise translate(exc, f"watch {kind}") from exc
            except ClusterError:
                raise
            except Exception as exc:
                error = translate(exc, f"watch {kind}")
                if not error.retryable or time.monotonic() > deadline:
                    raise error from exc

    def _ns(self, resource: Any) -> str | None:
        return self.namespace if resource.namespaced else None
