"""Every API request is bounded: an API server that accepts connections and never answers (frozen, a half-open
connection, a hung proxy) fails each call within its read timeout and the retries' bound, never hangs the run.

The server here is a listening socket that nobody accepts on: the kernel completes the connection, nothing ever
answers. A call without a bound would wait forever; the test's timeout catches that."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from kubernetes import client

from pipeline_steps import release_lock
from pipeline_steps.errors import ClusterError
from pipeline_steps.kube import cluster as kube_cluster
from pipeline_steps.kube import errors as kube_errors
from pipeline_steps.kube.cluster import KubeCluster


@pytest.fixture
def silent_server() -> Iterator[str]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture
def kube(silent_server: str, monkeypatch: pytest.MonkeyPatch) -> KubeCluster:
    monkeypatch.setattr(kube_cluster, "REQUEST_TIMEOUT", (0.2, 0.2))
    monkeypatch.setattr(kube_errors, "RETRY_FOR_S", 0.5)
    configuration = client.Configuration()
    configuration.host = silent_server
    return KubeCluster(client.ApiClient(configuration), "shop")


@pytest.mark.timeout(60)
def test_discovering_the_api_of_a_server_that_never_answers_fails_as_temporary(kube: KubeCluster) -> None:
    with pytest.raises(ClusterError) as failed:
        kube.get("v1", "Service", "web")

    assert failed.value.retryable
    assert failed.value.message.startswith("discover the API: cannot reach the API server: ")
    assert "timed out" in failed.value.message


@pytest.mark.timeout(60)
def test_a_call_made_without_a_timeout_of_its_own_is_bounded_too(kube: KubeCluster) -> None:
    """The release lock and the approval record write through the client directly: the client's default bound
    holds for them as well."""
    with pytest.raises(ClusterError) as failed:
        kube_errors.call(
            "list Lease", lambda: kube.api.rest_client.request("GET", f"{kube.api.configuration.host}/apis")
        )

    assert failed.value.retryable
    assert "timed out" in failed.value.message


@pytest.mark.timeout(60)
def test_taking_the_release_lock_from_a_server_that_never_answers_fails_as_temporary(kube: KubeCluster) -> None:
    with pytest.raises(ClusterError) as failed:
        release_lock.acquire(kube, "web", "build-7", 300)

    assert failed.value.retryable


@pytest.mark.timeout(60)
def test_a_watch_of_code_sharing_the_client_keeps_the_timeout_its_caller_gave(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    monkeypatch.setattr(kube_cluster, "REQUEST_TIMEOUT", (0.2, 0.2))

    class Recorder:
        def request(self, method: str, url: str, *args: object, _request_timeout: object = None, **kw: object) -> None:
            seen.append(_request_timeout)

    api = client.ApiClient()
    api.rest_client = Recorder()
    KubeCluster(api, "shop")
    api.rest_client.request("GET", "https://cluster/api/v1/pods?watch=true&timeoutSeconds=300")
    api.rest_client.request("GET", "https://cluster/api/v1/pods")

    assert seen == [None, (0.2, 0.2)]
