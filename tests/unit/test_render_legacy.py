"""API versions clusters no longer serve: apps workloads converted with a warning, the rest refused with the fix."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.errors import RenderError
from pipeline_steps.render import load_manifests, upgrade_legacy

WHERE = "app.yaml:1 (Deployment/web)"


def workload(api_version: str, kind: str = "Deployment", **spec: Any) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": "web", "tier": "api"}}, "spec": {"containers": [{"name": "web"}]}}
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "web"},
        "spec": {"replicas": 3, "template": template, **spec},
    }


def upgrade(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    converted, warning = upgrade_legacy(body, WHERE)
    assert warning is not None
    return converted, warning


def refused(body: dict[str, Any]) -> RenderError:
    with pytest.raises(RenderError) as caught:
        upgrade_legacy(body, WHERE)
    return caught.value


def test_extensions_deployment_becomes_apps_v1_with_selector_from_template_labels() -> None:
    original = workload("extensions/v1beta1")
    before = copy.deepcopy(original)
    converted, warning = upgrade(original)
    assert original == before
    assert converted["apiVersion"] == "apps/v1"
    assert converted["spec"]["selector"] == {"matchLabels": {"app": "web", "tier": "api"}}
    assert list(converted["spec"]) == ["replicas", "selector", "template", "strategy"]
    assert warning.startswith(f"{WHERE}: extensions/v1beta1 is no longer served (removed in Kubernetes 1.16)")
    assert "set spec.selector.matchLabels to the template labels {app: web, tier: api}" in warning


def test_extensions_deployment_keeps_its_old_rolling_pace_explicit() -> None:
    converted, warning = upgrade(workload("extensions/v1beta1"))
    assert converted["spec"]["strategy"] == {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 1}}
    assert "kept the old maxSurge: 1 and maxUnavailable: 1 explicit" in warning
    assert "revisionHistoryLimit is now 10 (was unlimited)" in warning
    assert "progressDeadlineSeconds is now 600 (was no deadline" in warning
    assert "revisionHistoryLimit" not in converted["spec"]
    assert "progressDeadlineSeconds" not in converted["spec"]


def test_values_the_manifest_sets_are_kept_and_not_mentioned() -> None:
    body = workload(
        "extensions/v1beta1",
        selector={"matchLabels": {"app": "web"}},
        strategy={"rollingUpdate": {"maxSurge": "50%"}},
        revisionHistoryLimit=5,
        progressDeadlineSeconds=120,
    )
    converted, warning = upgrade(body)
    assert converted["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert converted["spec"]["strategy"] == {"rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 1}}
    assert converted["spec"]["revisionHistoryLimit"] == 5
    assert "selector" not in warning
    assert "kept the old maxUnavailable: 1 explicit" in warning
    assert "defaults apply" not in warning


def test_a_recreate_deployment_gets_no_rolling_update_parameters() -> None:
    converted, _ = upgrade(workload("extensions/v1beta1", strategy={"type": "Recreate"}))
    assert converted["spec"]["strategy"] == {"type": "Recreate"}


def test_apps_v1beta1_deployment_only_changes_its_history_limit_default() -> None:
    converted, warning = upgrade(workload("apps/v1beta1", selector={"matchLabels": {"app": "web"}}))
    assert converted["apiVersion"] == "apps/v1"
    assert "strategy" not in converted["spec"]
    assert "revisionHistoryLimit is now 10 (was 2)" in warning
    assert "progressDeadlineSeconds" not in warning


def test_apps_v1beta2_deployment_only_changes_its_version() -> None:
    body = workload("apps/v1beta2", selector={"matchLabels": {"app": "web"}})
    converted, warning = upgrade(body)
    assert converted == {**body, "apiVersion": "apps/v1"}
    assert warning.endswith(
        "converted to apps/v1. Write apiVersion: apps/v1 and these fields into the file to silence this warning"
    )


def test_extensions_daemonset_keeps_on_delete_updates_explicit() -> None:
    converted, warning = upgrade(workload("extensions/v1beta1", "DaemonSet"))
    assert converted["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert converted["spec"]["selector"] == {"matchLabels": {"app": "web", "tier": "api"}}
    assert "kept the old spec.updateStrategy.type: OnDelete explicit" in warning


def test_an_explicit_update_strategy_is_kept() -> None:
    converted, warning = upgrade(workload("extensions/v1beta1", "DaemonSet", updateStrategy={"type": "RollingUpdate"}))
    assert converted["spec"]["updateStrategy"] == {"type": "RollingUpdate"}
    assert "OnDelete" not in warning


def test_apps_v1beta1_statefulset_keeps_on_delete_and_v1beta2_does_not_need_to() -> None:
    old, warning = upgrade(workload("apps/v1beta1", "StatefulSet"))
    assert old["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert "OnDelete" in warning
    newer, warning = upgrade(workload("apps/v1beta2", "StatefulSet"))
    assert "updateStrategy" not in newer["spec"]
    assert "OnDelete" not in warning


def test_replicaset_gets_only_version_and_selector() -> None:
    converted, _ = upgrade(workload("extensions/v1beta1", "ReplicaSet"))
    assert converted == {
        **workload("apps/v1", "ReplicaSet"),
        "spec": {
            **workload("apps/v1", "ReplicaSet")["spec"],
            "selector": {"matchLabels": {"app": "web", "tier": "api"}},
        },
    }


@pytest.mark.parametrize(("field", "kind"), [("rollbackTo", "Deployment"), ("templateGeneration", "DaemonSet")])
def test_fields_apps_v1_removed_are_an_error_saying_to_remove_them(field: str, kind: str) -> None:
    error = refused(workload("extensions/v1beta1", kind, **{field: {"revision": 1} if field == "rollbackTo" else 2}))
    assert str(error).startswith(f"{WHERE}: spec.{field}: ")
    assert f"remove spec.{field} from the manifest" in str(error)


def test_both_removed_fields_are_named_together() -> None:
    error = refused(workload("extensions/v1beta1", rollbackTo={"revision": 1}, templateGeneration=1))
    assert "remove spec.rollbackTo and spec.templateGeneration" in str(error)


def test_no_selector_and_no_template_labels_cannot_be_converted() -> None:
    body = workload("extensions/v1beta1")
    body["spec"]["template"]["metadata"] = {}
    error = refused(body)
    assert str(error).startswith(f"{WHERE}: spec.selector: apps/v1 requires spec.selector")
    assert error.hint is not None
    assert "spec.selector.matchLabels" in error.hint


@pytest.mark.parametrize("api_version", ["extensions/v1beta1", "networking.k8s.io/v1beta1"])
def test_an_old_ingress_is_refused_with_each_change_spelled_out(api_version: str) -> None:
    body = {
        "apiVersion": api_version,
        "kind": "Ingress",
        "metadata": {"name": "web"},
        "spec": {
            "backend": {"serviceName": "default", "servicePort": 8080},
            "rules": [
                {
                    "host": "a.example",
                    "http": {"paths": [{"path": "/", "backend": {"serviceName": "web", "servicePort": 80}}]},
                },
                {
                    "http": {
                        "paths": [
                            {
                                "path": "/api",
                                "pathType": "Prefix",
                                "backend": {"serviceName": "api", "servicePort": "http"},
                            }
                        ]
                    }
                },
            ],
        },
    }
    error = refused(body)
    text = str(error)
    assert text.startswith(
        f"{WHERE}: apiVersion: {api_version} Ingress is no longer served (removed in Kubernetes 1.22)"
    )
    assert "not converted automatically; change apiVersion to networking.k8s.io/v1 and:" in text
    assert "spec.backend: rename to spec.defaultBackend" in text
    assert "service: {name: default, port: {number: 8080}}" in text
    assert (
        "spec.rules[0].http.paths[0].backend: write serviceName/servicePort as service: {name: web, port: {number: 80}}"
        in text
    )
    assert (
        "spec.rules[1].http.paths[0].backend: write serviceName/servicePort as service: {name: api, port: {name: http}}"
        in text
    )
    assert "spec.rules[0].http.paths[0]: add pathType" in text
    assert "spec.rules[1].http.paths[0]: add pathType" not in text
    assert error.hint is not None
    assert "ImplementationSpecific" in error.hint


@pytest.mark.parametrize(
    ("api_version", "kind", "replacement", "removed_in", "also"),
    [
        ("policy/v1beta1", "PodDisruptionBudget", "policy/v1", "1.25", "empty spec.selector"),
        ("batch/v1beta1", "CronJob", "batch/v1", "1.25", "nothing else changes"),
        ("autoscaling/v2beta1", "HorizontalPodAutoscaler", "autoscaling/v2", "1.25", "targetAverageUtilization"),
        ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "autoscaling/v2", "1.26", "nothing else changes"),
        ("rbac.authorization.k8s.io/v1beta1", "RoleBinding", "rbac.authorization.k8s.io/v1", "1.22", ""),
        ("extensions/v1beta1", "NetworkPolicy", "networking.k8s.io/v1", "1.16", ""),
    ],
)
def test_other_removed_versions_name_their_replacement(
    api_version: str, kind: str, replacement: str, removed_in: str, also: str
) -> None:
    error = refused({"apiVersion": api_version, "kind": kind, "metadata": {"name": "web"}})
    assert str(error).startswith(
        f"{WHERE}: apiVersion: {api_version} {kind} is no longer served (removed in Kubernetes {removed_in}); "
        f"use apiVersion: {replacement}"
    )
    assert error.hint is not None
    assert error.hint.startswith(f"change apiVersion to {replacement}")
    assert also in error.hint


def test_pod_security_policy_has_no_replacement_kind() -> None:
    error = refused({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": "web"}})
    assert "no longer served (removed in Kubernetes 1.25)" in str(error)
    assert error.hint is not None
    assert "Pod Security Admission" in error.hint


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("apps/v1", "Deployment"),
        ("networking.k8s.io/v1", "Ingress"),
        ("policy/v1", "PodDisruptionBudget"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("autoscaling/v1", "HorizontalPodAutoscaler"),
        ("example.com/v1beta1", "Deployment"),
    ],
)
def test_served_versions_pass_unchanged(api_version: str, kind: str) -> None:
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "web"}, "spec": {}}
    assert upgrade_legacy(body, WHERE) == (body, None)


def test_loading_converts_and_returns_the_warnings(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\n---\n"
        "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: web}\n"
        "spec:\n  template:\n    metadata: {labels: {app: web}}\n"
        "    spec: {containers: [{name: web, image: '${IMAGE}'}]}\n",
        encoding="utf-8",
    )
    manifests, warnings = load_manifests(["web.yaml"], base_dir=tmp_path, variables={"IMAGE": "web:1"})
    assert [manifest.api_version for manifest in manifests] == ["v1", "apps/v1"]
    assert manifests[1].body["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert len(warnings) == 1
    assert warnings[0].startswith("web.yaml:5 (Deployment/web): extensions/v1beta1 is no longer served")


def test_loading_a_removed_version_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "cron.yaml").write_text(
        "# nightly\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: nightly}\n", encoding="utf-8"
    )
    with pytest.raises(RenderError) as caught:
        load_manifests(["cron.yaml"], base_dir=tmp_path, variables={})
    assert str(caught.value).startswith("cron.yaml:2 (CronJob/nightly): apiVersion: batch/v1beta1 CronJob")
