"""Client errors -> ClusterError: which are retried, what the message says, and the retrying call."""

from __future__ import annotations

import json
import socket

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from pipeline_steps.errors import ClusterError
from pipeline_steps.kube.errors import call, refused_body, translate


def api_error(status: int, reason: str = "Reason", body: str | None = None) -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = body
    return exc


def status_body(message: str) -> str:
    return json.dumps({"kind": "Status", "status": "Failure", "message": message, "code": 0})


# -- translate ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [409, 429, 500, 502, 503, 504])
def test_conflicts_throttling_and_server_errors_are_retryable(status: int) -> None:
    error = translate(api_error(status), "apply Deployment/web")
    assert error.retryable is True
    assert error.status == status


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 410, 415, 422])
def test_other_client_errors_are_never_retried(status: int) -> None:
    error = translate(api_error(status), "apply Deployment/web")
    assert error.retryable is False
    assert error.status == status


def test_storage_unavailable_is_retryable_whatever_status_the_api_server_wraps_it_in() -> None:
    # Seen with etcd restarting while a Service was created: the IP allocator's error comes back as 422.
    body = status_body(
        'Service "web-test-green" is invalid: spec.clusterIPs: Invalid value: [""]: failed to allocate IP: '
        "rpc error: code = Unavailable desc = error reading from server: EOF"
    )
    error = translate(api_error(422, "Unprocessable Entity", body), "apply Service/web-test-green")
    assert error.retryable is True
    assert error.status == 422


def test_message_comes_from_the_status_body() -> None:
    body = status_body('Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1')
    error = translate(api_error(422, "Unprocessable Entity", body), "apply Deployment/web")
    assert error.message == (
        'apply Deployment/web: 422 Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1'
    )
    assert error.hint is None


@pytest.mark.parametrize("body", [None, "", "<html>Bad Gateway</html>", "{}", '{"message": ""}'])
def test_message_falls_back_to_the_reason(body: str | None) -> None:
    assert translate(api_error(502, "Bad Gateway", body), "list Pod").message == "list Pod: 502 Bad Gateway"


@pytest.mark.parametrize("body", ["[]", "null", "42", '"upstream down"'])
def test_a_json_body_that_is_not_a_status_object_falls_back_to_the_reason(body: str) -> None:
    # A proxy in front of the API server may answer anything; that must still become a ClusterError.
    error = translate(api_error(503, "Service Unavailable", body), "list Pod")
    assert error.message == "list Pod: 503 Service Unavailable"
    assert error.retryable is True


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_hint_at_credentials_and_rbac(status: int) -> None:
    error = translate(api_error(status, "Forbidden", status_body("pods is forbidden")), "list Pod")
    assert str(error) == (
        f"list Pod: {status} pods is forbidden (check the kubeconfig's credentials and their RBAC permissions)"
    )


@pytest.mark.parametrize(
    "exc",
    [
        urllib3.exceptions.ReadTimeoutError(None, "/api", "read timed out"),  # type: ignore[arg-type]
        urllib3.exceptions.MaxRetryError(None, "/api", ConnectionRefusedError(111, "refused")),  # type: ignore[arg-type]
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        socket.gaierror(-2, "Name or service not known"),
    ],
)
def test_lost_connections_and_timeouts_are_retryable(exc: BaseException) -> None:
    error = translate(exc, "read Service/web")
    assert error.retryable is True
    assert error.status is None
    assert error.message.startswith("read Service/web: cannot reach the API server: ")
    assert error.hint == "is the cluster up and reachable?"


def test_anything_else_is_not_retryable() -> None:
    error = translate(ValueError("bad value"), "read Service/web")
    assert (error.message, error.retryable, error.status) == ("read Service/web: bad value", False, None)


# -- call ---------------------------------------------------------------------------------------------


class Flaky:
    """Raises the given exceptions in turn, then returns "ok"."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """tenacity's pauses, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr("tenacity.nap.time.sleep", slept.append)
    return slept


def test_call_returns_the_result() -> None:
    assert call("read", lambda: 7) == 7


def test_call_retries_conflicts_and_server_errors_until_success(no_sleep: list[float]) -> None:
    func = Flaky(api_error(409, "Conflict"), api_error(503, "Service Unavailable"), OSError("reset"))
    assert call("apply Deployment/web", func) == "ok"
    assert func.calls == 4
    assert len(no_sleep) == 3
    assert all(0 < pause <= 5 for pause in no_sleep)


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_call_does_not_retry_client_errors(no_sleep: list[float], status: int) -> None:
    cause = api_error(status, "No", status_body("no such thing"))
    func = Flaky(cause)
    with pytest.raises(ClusterError) as caught:
        call("read Service/web", func)
    assert func.calls == 1
    assert no_sleep == []
    assert caught.value.message == f"read Service/web: {status} no such thing"
    assert caught.value.__cause__ is cause


def test_call_gives_up_after_retry_for_with_the_last_error() -> None:
    cause = api_error(503, "Service Unavailable")
    func = Flaky(*[api_error(503, "Service Unavailable")] * 50, cause)
    with pytest.raises(ClusterError) as caught:
        call("list Pod", func, retry_for=0.3)
    assert caught.value.retryable is True
    assert caught.value.status == 503
    assert 2 <= func.calls < 10
    assert isinstance(caught.value.__cause__, ApiException)


def test_call_lets_other_exceptions_through_unwrapped() -> None:
    func = Flaky(KeyError("metadata"))
    with pytest.raises(KeyError):
        call("read Service/web", func)
    assert func.calls == 1


def test_a_body_the_schema_refuses_is_not_retried_though_server_side_apply_answers_500() -> None:
    message = "failed to create typed patch object (/web; apps/v1, Kind=Deployment): .spec.replica: field not declared"
    error = translate(api_error(500, "Internal Server Error", status_body(message)), "apply Deployment/web (dry-run)")
    assert (error.status, error.retryable) == (500, False)
    assert refused_body(error.status, error.message)
    assert not refused_body(500, "etcdserver: request timed out")
    assert translate(api_error(500, "Internal Server Error", status_body("etcd timed out")), "x").retryable
