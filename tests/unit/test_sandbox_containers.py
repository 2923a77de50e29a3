"""What the sandbox reads from a container spec: its preStop duration and its environment."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline_steps_sandbox.containers import container_env, memory_bytes, out_of_memory, prestop_seconds

POD: dict[str, Any] = {
    "metadata": {"name": "web-7d9f-abcde", "namespace": "shop", "uid": "0b6a-uid"},
    "spec": {"nodeName": "sandbox-node-2", "serviceAccountName": "web"},
}


def with_prestop(hook: dict[str, Any]) -> dict[str, Any]:
    return {"name": "app", "lifecycle": {"preStop": hook}}


# -- preStop --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hook", "seconds"),
    [
        pytest.param({"sleep": {"seconds": 7}}, 7.0, id="sleep-action"),
        pytest.param({"exec": {"command": ["sleep", "5"]}}, 5.0, id="exec-sleep"),
        pytest.param({"exec": {"command": ["/bin/sleep", "3"]}}, 3.0, id="exec-bin-sleep"),
        pytest.param({"exec": {"command": ["sh", "-c", "sleep 10"]}}, 10.0, id="shell-sleep"),
        pytest.param({"exec": {"command": ["/bin/sh", "-c", "exec sleep 2.5"]}}, 2.5, id="shell-exec-sleep"),
        pytest.param({"exec": {"command": ["bash", "-c", "  sleep 4  "]}}, 4.0, id="bash-padded"),
    ],
)
def test_a_sleeping_prestop_hook_gives_its_duration(hook: dict[str, Any], seconds: float) -> None:
    assert prestop_seconds(with_prestop(hook)) == (seconds, None)


@pytest.mark.parametrize(
    "hook",
    [
        pytest.param({"exec": {"command": ["sh", "-c", "sleep 5 && nginx -s quit"]}}, id="sleep-then-more"),
        pytest.param({"exec": {"command": ["/app/drain"]}}, id="other-program"),
        pytest.param({"exec": {"command": []}}, id="empty-command"),
        pytest.param({}, id="empty-hook"),
    ],
)
def test_an_exec_hook_that_is_not_a_plain_sleep_cannot_run_and_takes_no_time(hook: dict[str, Any]) -> None:
    assert prestop_seconds(with_prestop(hook)) == (0.0, None)


def test_an_http_hook_is_handed_back_to_be_called() -> None:
    action = {"path": "/drain", "port": "http"}

    assert prestop_seconds(with_prestop({"httpGet": action})) == (0.0, action)


def test_a_container_without_lifecycle_has_no_prestop() -> None:
    assert prestop_seconds({"name": "app"}) == (0.0, None)
    assert prestop_seconds({"name": "app", "lifecycle": {"postStart": {"sleep": {"seconds": 3}}}}) == (0.0, None)


# -- env ------------------------------------------------------------------------------------------


def field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def test_plain_values_are_passed_as_strings() -> None:
    container = {"name": "app", "env": [{"name": "MODE", "value": "blue"}, {"name": "WORKERS", "value": 4}]}

    assert container_env(container, POD, "10.231.2.7") == {"MODE": "blue", "WORKERS": "4"}


def test_field_refs_resolve_from_the_pod_and_its_address() -> None:
    container = {
        "name": "app",
        "env": [
            field("POD_NAME", "metadata.name"),
            field("POD_NAMESPACE", "metadata.namespace"),
            field("POD_UID", "metadata.uid"),
            field("NODE", "spec.nodeName"),
            field("SA", "spec.serviceAccountName"),
            field("POD_IP", "status.podIP"),
        ],
    }

    assert container_env(container, POD, "10.231.2.7") == {
        "POD_NAME": "web-7d9f-abcde",
        "POD_NAMESPACE": "shop",
        "POD_UID": "0b6a-uid",
        "NODE": "sandbox-node-2",
        "SA": "web",
        "POD_IP": "10.231.2.7",
    }


def test_a_field_path_the_sandbox_does_not_resolve_is_empty() -> None:
    container = {"name": "app", "env": [field("ROLE", "metadata.labels['role']"), field("HOST", "status.hostIP")]}

    assert container_env(container, POD, "10.231.2.7") == {"ROLE": "", "HOST": ""}


def test_other_sources_are_left_out() -> None:
    container = {
        "name": "app",
        "env": [
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "level"}}},
        ],
    }

    assert container_env(container, POD, "10.231.2.7") == {}


def test_a_container_without_env_gets_none() -> None:
    assert container_env({"name": "app"}, POD, "10.231.2.7") == {}


# -- memory ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("128Mi", 128 * 2**20), ("1Gi", 2**30), ("1G", 10**9), ("500000", 500000), ("1.5Ki", 1536), ("100m", 0.1)],
)
def test_memory_quantities_read_as_kubernetes_writes_them(quantity: str, expected: float) -> None:
    assert memory_bytes(quantity) == expected


@pytest.mark.parametrize("quantity", [None, "", "lots", "12XB", "-1Gi"])
def test_a_memory_quantity_that_does_not_parse_is_none(quantity: str | None) -> None:
    assert memory_bytes(quantity) is None


def test_a_container_using_more_than_its_limit_is_out_of_memory() -> None:
    container = {"name": "app", "resources": {"limits": {"memory": "64Mi"}}}

    assert out_of_memory(container, {"SANDBOX_MEMORY_USE": "1Gi"})
    assert not out_of_memory(container, {"SANDBOX_MEMORY_USE": "32Mi"})
    assert not out_of_memory(container, {})  # uses nothing it declares
    assert not out_of_memory({"name": "app"}, {"SANDBOX_MEMORY_USE": "1Gi"})  # no limit: nothing to outgrow
