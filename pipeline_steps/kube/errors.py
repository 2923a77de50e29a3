"""Client errors -> ClusterError, and the one retry policy for cluster calls."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TypeVar

import urllib3
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from tenacity import retry, retry_if_exception, stop_after_delay, wait_exponential

from pipeline_steps.errors import ClusterError, ConfigError

T = TypeVar("T")

_RETRYABLE_STATUS = {409, 429, 500, 502, 503, 504}
#: What the API server says when its storage (etcd) is away, whatever status it wraps it in: creating a Service
#: then fails with 422 "failed to allocate IP: rpc error: code = Unavailable ...". Temporary, whatever the code.
_STORAGE_UNAVAILABLE = ("rpc error: code = Unavailable", "etcdserver: request timed out", "etcdserver: leader changed")
#: How long one call is retried while it fails retryably (API server unreachable, throttled, 5xx, conflicts).
RETRY_FOR_S = float(os.environ.get("PIPELINE_STEPS_API_RETRY_SECONDS") or 30.0)


def translate(exc: BaseException, action: str) -> ClusterError:
    """A ClusterError for a client exception, retryable for conflicts, throttling, 5xx and lost connections."""
    if isinstance(exc, ApiException):
        message = exc.reason or ""
        try:
            body = json.loads(exc.body or "{}")
            if isinstance(body, dict):  # a Status object; a proxy in front of the server may send other JSON
                message = body.get("message") or message
        except (TypeError, ValueError):
            pass
        hint = None
        if exc.status in (401, 403):
            hint = "check the kubeconfig's credentials and their RBAC permissions"
        # Storage unavailable (etcd restarting) is temporary whatever status wraps it; a body the server
        # refuses (a bad manifest answered with 500) is not, whatever its status.
        unavailable = any(marker in message for marker in _STORAGE_UNAVAILABLE)
        retryable = unavailable or (exc.status in _RETRYABLE_STATUS and not refused_body(exc.status, message))
        return ClusterError(f"{action}: {exc.status} {message}", status=exc.status, retryable=retryable, hint=hint)
    if isinstance(exc, (urllib3.exceptions.HTTPError, OSError, TimeoutError)):
        return ClusterError(
            f"{action}: cannot reach the API server: {exc}", retryable=True, hint="is the cluster up and reachable?"
        )
    return ClusterError(f"{action}: {exc}")


def refused_body(status: int | None, message: str) -> bool:
    """The API server refused the request's body: invalid (422), malformed (400), or, for server-side apply, a
    field its schema does not have or a value of the wrong type, which it answers with a 500 ("failed to create
    typed patch object") although asking again can never succeed."""
    return status in (400, 422) or (status == 500 and _TYPED_PATCH in message)


_TYPED_PATCH = "failed to create typed patch object"


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ClusterError) and exc.retryable


def call(action: str, func: Callable[[], T], *, retry_for: float | None = None) -> T:
    """Run one API call; retry it only while retryable and within `retry_for` seconds."""

    @retry(
        retry=retry_if_exception(_retryable),
        stop=stop_after_delay(RETRY_FOR_S if retry_for is None else retry_for),
        wait=wait_exponential(multiplier=0.2, max=5),
        reraise=True,
    )
    def attempt() -> T:
        try:
            return func()
        except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise translate(exc, action) from exc

    return attempt()


def config_error(exc: ConfigException | OSError | str, where: str) -> ConfigError:
    return ConfigError(
        f"cannot load cluster credentials: {exc}",
        source=where,
        hint="pass --kubeconfig PATH (and --context NAME), set KUBECONFIG, or run inside a cluster",
    )
