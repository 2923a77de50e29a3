"""Lossless termination: a preStop sleep added where a served container has none, and the findings where
requests would still be lost."""

from __future__ import annotations

from typing import Any

from pipeline_steps.manifests.drain import add_pre_stop, drain_findings
from pipeline_steps.manifests.model import Manifest


def deployment(*containers: dict[str, Any], grace: int | None = None) -> Manifest:
    spec: dict[str, Any] = {"containers": list(containers)}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": spec}},
    }
    return Manifest(source="app.yaml", index=0, line=1, body=body)


SERVED = {"name": "app", "image": "web:1", "ports": [{"containerPort": 8080}]}
SIDECAR = {"name": "log", "image": "log:1"}
HOOKED = {**SERVED, "lifecycle": {"preStop": {"exec": {"command": ["/drain"]}}}}


def containers(manifest: Manifest) -> list[dict[str, Any]]:
    return list(manifest.body["spec"]["template"]["spec"]["containers"])


def test_a_served_container_without_a_hook_gets_a_pre_stop_sleep() -> None:
    [changed] = add_pre_stop([deployment(SERVED, SIDECAR)], 5.0)
    app, log = containers(changed)
    assert app["lifecycle"] == {"preStop": {"sleep": {"seconds": 5}}}
    assert "lifecycle" not in log  # serves nothing
    assert "lifecycle" not in SERVED  # the loaded manifest itself is untouched


def test_an_existing_hook_is_kept_and_zero_adds_nothing() -> None:
    [kept] = add_pre_stop([deployment(HOOKED)], 5.0)
    assert containers(kept)[0]["lifecycle"] == HOOKED["lifecycle"]
    [untouched] = add_pre_stop([deployment(SERVED)], 0)
    assert "lifecycle" not in containers(untouched)[0]


def test_no_hook_is_an_error_when_the_release_stops_pods_and_a_warning_otherwise() -> None:
    [error] = drain_findings([deployment(SERVED)], stops_pods=True)
    [warning] = drain_findings([deployment(SERVED)], stops_pods=False)
    assert (error.level, warning.level) == ("error", "warning")
    assert error.field == "spec.template.spec.containers[0].lifecycle.preStop"
    assert "preStop" in error.hint and "drain.pre_stop_sleep" in error.hint
    assert error.where == "app.yaml:1 (Deployment/web)"


def test_a_grace_period_shorter_than_the_sleep_is_a_finding() -> None:
    [finding] = drain_findings(add_pre_stop([deployment(SERVED, grace=5)], 5.0), stops_pods=True)
    assert finding.field == "spec.template.spec.terminationGracePeriodSeconds"
    assert drain_findings(add_pre_stop([deployment(SERVED, grace=30)], 5.0), stops_pods=True) == []


def test_what_add_pre_stop_gives_has_no_findings() -> None:
    assert drain_findings(add_pre_stop([deployment(SERVED, SIDECAR)], 5.0), stops_pods=True) == []
