"""Checks of a rendered manifest set: readiness, selectors, the role label, and the rollout pace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline_steps.errors import ConfigError
from pipeline_steps.render import Finding, Manifest, check_manifests, load_manifests

PROBE = {"httpGet": {"path": "/healthz", "port": 8080}}


def deployment(
    name: str = "web",
    labels: dict[str, str] | None = None,
    selector: dict[str, Any] | None = None,
    containers: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    labels = {"app": "web"} if labels is None else labels
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": dict(labels)} if selector is None else selector,
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": name, "readinessProbe": PROBE}] if containers is None else containers},
            },
            **spec,
        },
    }


def service(name: str = "web", selector: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": "web"} if selector is None else selector, **spec},
    }


def load(tmp_path: Path, *bodies: dict[str, Any]) -> list[Manifest]:
    (tmp_path / "app.yaml").write_text(yaml.safe_dump_all(bodies, sort_keys=False), encoding="utf-8")
    manifests, _ = load_manifests(["app.yaml"], base_dir=tmp_path, variables={})
    return manifests


def check(
    tmp_path: Path,
    *bodies: dict[str, Any],
    strategy: str = "rolling",
    role_label: str | None = "role",
    public_service: str | None = None,
    allow_missing_readiness: bool = False,
) -> list[Finding]:
    return check_manifests(
        load(tmp_path, *bodies),
        strategy=strategy,
        role_label=role_label,
        public_service=public_service,
        allow_missing_readiness=allow_missing_readiness,
    )


def document_lines(tmp_path: Path) -> list[int]:
    """The first line of each document of the written app.yaml, read independently of the loader."""
    lines = (tmp_path / "app.yaml").read_text(encoding="utf-8").splitlines()
    return [1] + [number + 1 for number, line in enumerate(lines, start=1) if line == "---"]


def only(findings: list[Finding]) -> Finding:
    assert len(findings) == 1, findings
    return findings[0]


def test_a_sound_rolling_release_has_no_findings(tmp_path: Path) -> None:
    assert check(tmp_path, deployment(replicas=3), service()) == []


def test_a_sound_bluegreen_release_has_no_findings(tmp_path: Path) -> None:
    labels = {"app": "web", "role": "green"}
    bodies = (
        deployment(labels=labels),
        service(selector=labels),
        service("web-public", selector={"app": "web", "role": "blue"}),
    )
    assert check(tmp_path, *bodies, strategy="bluegreen", public_service="web-public") == []


def test_missing_readiness_is_a_warning_for_rolling_naming_the_container(tmp_path: Path) -> None:
    containers: list[dict[str, Any]] = [{"name": "web", "readinessProbe": PROBE}, {"name": "sidecar"}]
    finding = only(check(tmp_path, deployment(containers=containers, replicas=2), service()))
    assert finding.level == "warning"
    assert finding.where == "app.yaml:1 (Deployment/web)"
    assert finding.field == "spec.template.spec.containers[1].readinessProbe"
    assert "container 'sidecar' has no readinessProbe" in finding.message
    assert "readinessProbe" in finding.hint


def test_missing_readiness_is_an_error_for_bluegreen(tmp_path: Path) -> None:
    labels = {"app": "web", "role": "blue"}
    finding = only(
        check(tmp_path, deployment(labels=labels, containers=[{"name": "web"}]), service(), strategy="bluegreen")
    )
    assert finding.level == "error"
    assert finding.field == "spec.template.spec.containers[0].readinessProbe"
    assert "allow_missing_readiness: true" in finding.hint


def test_allowed_missing_readiness_is_a_warning_for_bluegreen(tmp_path: Path) -> None:
    labels = {"app": "web", "role": "blue"}
    bodies = (deployment(labels=labels, containers=[{"name": "web"}]), service())
    finding = only(check(tmp_path, *bodies, strategy="bluegreen", allow_missing_readiness=True))
    assert finding.level == "warning"


def test_a_service_selecting_no_pods_is_an_error_listing_the_templates(tmp_path: Path) -> None:
    finding = only(check(tmp_path, deployment(replicas=2), service(selector={"app": "wbe"})))
    assert finding.level == "error"
    assert finding.where == f"app.yaml:{document_lines(tmp_path)[1]} (Service/web)"
    assert finding.field == "spec.selector"
    assert finding.message.startswith("selector {app: wbe} matches the pods of no workload")
    assert "Deployment/web {app: web}" in finding.hint


def test_a_service_must_select_pods_in_its_own_namespace(tmp_path: Path) -> None:
    body = deployment(replicas=2)
    body["metadata"]["namespace"] = "a"
    other = service()
    other["metadata"]["namespace"] = "b"
    assert only(check(tmp_path, body, other)).field == "spec.selector"
    other["metadata"]["namespace"] = "a"
    assert check(tmp_path, body, other) == []


def test_a_service_for_a_statefulset_is_matched_too(tmp_path: Path) -> None:
    stateful = deployment("db", labels={"app": "db"})
    stateful["kind"] = "StatefulSet"
    assert check(tmp_path, stateful, service("db", selector={"app": "db"}, clusterIP="None")) == []


@pytest.mark.parametrize("spec", [{"selector": {}}, {"type": "ExternalName", "externalName": "db.example"}])
def test_services_without_a_selector_are_not_checked(tmp_path: Path, spec: dict[str, Any]) -> None:
    body = service("external")
    body["spec"] = spec
    assert check(tmp_path, deployment(replicas=2), service(), body) == []


def test_bluegreen_public_service_matches_whatever_role_it_selects(tmp_path: Path) -> None:
    labels = {"app": "web", "role": "green"}
    public = service("web-public", selector={"app": "web", "role": "blue"})
    assert check(tmp_path, deployment(labels=labels), public, strategy="bluegreen", public_service="web-public") == []


def test_bluegreen_test_service_must_match_the_rendered_role(tmp_path: Path) -> None:
    labels = {"app": "web", "role": "green"}
    bodies = (deployment(labels=labels), service("web-test", selector={"app": "web", "role": "blue"}))
    finding = only(check(tmp_path, *bodies, strategy="bluegreen", public_service="web-public"))
    assert finding.where.endswith("(Service/web-test)")
    assert finding.level == "error"


def test_bluegreen_without_a_named_public_service_leaves_the_role_out_of_every_service(tmp_path: Path) -> None:
    labels = {"app": "web", "role": "green"}
    bodies = (deployment(labels=labels), service("web-test", selector={"app": "web", "role": "blue"}))
    assert check(tmp_path, *bodies, strategy="bluegreen") == []
    wrong = service("web-other", selector={"app": "other", "role": "blue"})
    finding = only(check(tmp_path, *bodies, wrong, strategy="bluegreen"))
    assert "(ignoring 'role', which the switch sets)" in finding.message


def test_a_public_service_absent_from_the_manifests_is_not_a_finding(tmp_path: Path) -> None:
    bodies = (deployment(replicas=2), service())
    assert check(tmp_path, *bodies, public_service="not-here") == []
    labels = {"app": "web", "role": "blue"}
    assert check(tmp_path, deployment(labels=labels), strategy="bluegreen", public_service="not-here") == []


def test_a_selector_that_does_not_select_its_own_template_is_an_error(tmp_path: Path) -> None:
    finding = only(check(tmp_path, deployment(selector={"matchLabels": {"app": "api"}}, replicas=2), service()))
    assert finding.level == "error"
    assert finding.field == "spec.selector"
    assert finding.message.startswith("selector {app: api} does not select the pod template's labels {app: web}")


@pytest.mark.parametrize(
    ("expression", "selects"),
    [
        ({"key": "app", "operator": "In", "values": ["web", "api"]}, True),
        ({"key": "app", "operator": "In", "values": ["api"]}, False),
        ({"key": "app", "operator": "NotIn", "values": ["web"]}, False),
        ({"key": "app", "operator": "Exists"}, True),
        ({"key": "tier", "operator": "Exists"}, False),
        ({"key": "tier", "operator": "DoesNotExist"}, True),
        ({"key": "app", "operator": "DoesNotExist"}, False),
    ],
)
def test_match_expressions_are_evaluated(tmp_path: Path, expression: dict[str, Any], selects: bool) -> None:
    findings = check(tmp_path, deployment(selector={"matchExpressions": [expression]}, replicas=2), service())
    assert [finding.field for finding in findings] == ([] if selects else ["spec.selector"])


@pytest.mark.parametrize("selector", [{}, {"matchLabels": {}}])
def test_an_empty_selector_is_an_error(tmp_path: Path, selector: dict[str, Any]) -> None:
    finding = only(check(tmp_path, deployment(selector=selector, replicas=2), service()))
    assert finding.message == "apps/v1 Deployment requires a non-empty spec.selector"


def test_bluegreen_template_without_the_role_label_is_an_error_saying_what_to_add(tmp_path: Path) -> None:
    finding = only(check(tmp_path, deployment(), service(), strategy="bluegreen", role_label="color"))
    assert finding.level == "error"
    assert finding.field == "spec.template.metadata.labels"
    assert finding.hint == "add `color: ${TARGET_ROLE}` to spec.template.metadata.labels and spec.selector.matchLabels"


def test_bluegreen_selector_without_the_role_label_is_an_error(tmp_path: Path) -> None:
    body = deployment(labels={"app": "web", "role": "blue"}, selector={"matchLabels": {"app": "web"}})
    finding = only(check(tmp_path, body, service(), strategy="bluegreen"))
    assert finding.field == "spec.selector.matchLabels"
    assert "would select each other's pods" in finding.message


def test_bluegreen_role_in_a_match_expression_counts(tmp_path: Path) -> None:
    selector = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [{"key": "role", "operator": "In", "values": ["blue"]}],
    }
    body = deployment(labels={"app": "web", "role": "blue"}, selector=selector)
    assert check(tmp_path, body, service(), strategy="bluegreen") == []


def test_recreate_is_a_warning_in_a_rolling_release_only(tmp_path: Path) -> None:
    body = deployment(replicas=2, strategy={"type": "Recreate"})
    finding = only(check(tmp_path, body, service()))
    assert (finding.level, finding.field) == ("warning", "spec.strategy.type")
    assert "not zero-downtime" in finding.message
    body = deployment(labels={"app": "web", "role": "blue"}, strategy={"type": "Recreate"})
    assert check(tmp_path, body, service(), strategy="bluegreen") == []


@pytest.mark.parametrize(
    ("replicas", "max_unavailable", "warned"),
    [
        (4, "100%", True),
        (2, 2, True),
        (2, 3, True),
        (3, 1, False),
        (2, "50%", False),
        (1, "25%", False),
        (1, None, False),
        (4, "99%", False),
        (0, 1, False),
    ],
)
def test_max_unavailable_that_allows_every_pod_down_is_a_warning(
    tmp_path: Path, replicas: int, max_unavailable: int | str | None, warned: bool
) -> None:
    rolling = {} if max_unavailable is None else {"maxUnavailable": max_unavailable}
    body = deployment(replicas=replicas, strategy={"rollingUpdate": rolling})
    findings = check(tmp_path, body, service())
    assert [finding.field for finding in findings] == (["spec.strategy.rollingUpdate.maxUnavailable"] if warned else [])
    if warned:
        assert findings[0].level == "warning"
        assert f"maxUnavailable {max_unavailable} of {replicas} replicas" in findings[0].message


def test_without_replicas_the_api_default_of_one_pod_is_checked(tmp_path: Path) -> None:
    body = deployment(strategy={"rollingUpdate": {"maxUnavailable": 1}})
    assert "of 1 replica lets every pod" in only(check(tmp_path, body, service())).message


def test_an_autoscaled_deployment_without_replicas_is_checked_for_100_percent_only(tmp_path: Path) -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5},
    }
    assert check(tmp_path, deployment(strategy={"rollingUpdate": {"maxUnavailable": 1}}), service(), hpa) == []
    finding = only(check(tmp_path, deployment(strategy={"rollingUpdate": {"maxUnavailable": "100%"}}), service(), hpa))
    assert finding.message.startswith("maxUnavailable 100% lets every pod be down")


def test_zero_surge_and_zero_unavailable_is_an_error(tmp_path: Path) -> None:
    body = deployment(replicas=2, strategy={"rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}})
    finding = only(check(tmp_path, body, service()))
    assert (finding.level, finding.field) == ("error", "spec.strategy.rollingUpdate.maxUnavailable")


def test_findings_follow_manifest_order(tmp_path: Path) -> None:
    bodies = (service(selector={"app": "nothing"}), deployment(containers=[{"name": "web"}], replicas=2))
    findings = check(tmp_path, *bodies)
    service_line, deployment_line = document_lines(tmp_path)
    assert [finding.where for finding in findings] == [
        f"app.yaml:{service_line} (Service/web)",
        f"app.yaml:{deployment_line} (Deployment/web)",
    ]


def test_an_unknown_strategy_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown strategy 'canary'"):
        check(tmp_path, deployment(), strategy="canary")


# -- the role label's value, kinds blue/green cannot give a role, images, namespaces -------------------------


def bluegreen(tmp_path: Path, *bodies: dict[str, Any], target_role: str | None = "green") -> list[Finding]:
    return check_manifests(
        load(tmp_path, *bodies),
        strategy="bluegreen",
        role_label="role",
        public_service="web",
        allow_missing_readiness=False,
        roles=("blue", "green"),
        target_role=target_role,
    )


def test_a_role_label_value_not_in_roles_is_an_error(tmp_path: Path) -> None:
    finding = only(bluegreen(tmp_path, deployment(labels={"app": "web", "role": "red"})))
    assert finding.field == "spec.template.metadata.labels.role"
    assert finding.message == "the pod template's 'role' label is 'red', not one of bluegreen.roles (blue, green)"
    assert "role: ${TARGET_ROLE}" in finding.hint


def test_a_role_label_of_the_other_role_is_an_error(tmp_path: Path) -> None:
    finding = only(bluegreen(tmp_path, deployment(labels={"app": "web", "role": "blue"})))
    assert "is 'blue', but this Deployment is rendered for role 'green'" in finding.message
    assert bluegreen(tmp_path, deployment(labels={"app": "web", "role": "green"})) == []


def test_blue_green_refuses_other_workloads_that_carry_the_role(tmp_path: Path) -> None:
    stateful = deployment("db", labels={"app": "db", "role": "green"})
    stateful["kind"] = "StatefulSet"
    finding = only(bluegreen(tmp_path, deployment(labels={"app": "web", "role": "green"}), stateful))
    assert (finding.where, finding.field) == (f"app.yaml:{document_lines(tmp_path)[1]} (StatefulSet/db)", "kind")
    assert "waits for the rollout of Deployments only" in finding.message
    shared = deployment("db", labels={"app": "db"})  # no role: not part of the switch
    shared["kind"] = "StatefulSet"
    assert bluegreen(tmp_path, deployment(labels={"app": "web", "role": "green"}), shared) == []


@pytest.mark.parametrize("image", ["registry.local/web", "web", "localhost:5000/team/web"])
def test_an_image_with_neither_tag_nor_digest_is_an_error(tmp_path: Path, image: str) -> None:
    body = deployment(replicas=2, containers=[{"name": "web", "image": "web:1", "readinessProbe": PROBE}])
    body["spec"]["template"]["spec"]["initContainers"] = [{"name": "init", "image": image}]
    finding = only(check(tmp_path, body))
    assert finding.field == "spec.template.spec.initContainers[0].image"
    assert f"image {image!r} has neither tag nor digest" in finding.message
    assert "add a tag" in finding.hint


@pytest.mark.parametrize("image", ["registry.local/web:1", "localhost:5000/web:v2", "web@sha256:" + "a" * 64])
def test_an_image_with_a_tag_or_digest_is_fine(tmp_path: Path, image: str) -> None:
    body = deployment(replicas=2, containers=[{"name": "web", "image": image, "readinessProbe": PROBE}])
    assert check(tmp_path, body) == []


def test_an_object_of_another_namespace_is_an_error(tmp_path: Path) -> None:
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "other"}}
    manifests = load(tmp_path, deployment(replicas=2), config)
    kwargs: dict[str, Any] = {"strategy": "rolling", "role_label": None, "public_service": None}
    findings = check_manifests(manifests, allow_missing_readiness=False, namespace="prod", **kwargs)
    finding = only(findings)
    assert (finding.field, finding.message) == (
        "metadata.namespace",
        "is 'other', but the release goes to namespace 'prod'",
    )
    assert check_manifests(manifests, allow_missing_readiness=False, namespace="other", **kwargs) == []
