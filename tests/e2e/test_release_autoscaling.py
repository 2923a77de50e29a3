"""Releases of Deployments a HorizontalPodAutoscaler scales, on the sandbox's real controller manager and
metrics API: the HPA keeps its replicas through a rollout, a switch first brings the idle role to the active
role's capacity, and a role scale-down left at 0 comes back with the next release."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
from kubernetes import client, watch

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Result, Workspace
from tests.support.traffic import Load, served_images

V1, V2, V3 = "registry.local/web:v1", "registry.local/web:v2", "registry.local/web:v3"


def _hpa(name: str, *, minimum: int, maximum: int) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": minimum,
            "maxReplicas": maximum,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                }
            ],
        },
    }


def _changes(result: Result, step: str) -> list[str]:
    [found] = [s for s in result.json()["steps"] if s["name"] == step]
    return list(found.get("changes") or [])


def _wait_available(cluster: Cluster, namespace: str, name: str, replicas: int) -> None:
    cluster.wait_for(
        f"deployment {name} at {replicas} available replicas",
        cluster.apps.list_namespaced_deployment,
        lambda d: (
            d.metadata.name == name
            and d.spec.replicas == replicas
            and (d.status.available_replicas or 0) == replicas
            and (d.status.observed_generation or 0) >= d.metadata.generation
        ),
        timeout=120.0,
        namespace=namespace,
    )


class ReplicasSeen:
    """Every spec.replicas a Deployment had while the block ran, from a watch (no event is missed)."""

    def __init__(self, cluster: Cluster, namespace: str, name: str) -> None:
        self.cluster, self.namespace, self.name = cluster, namespace, name
        self.replicas: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._started = threading.Event()

    def _follow(self) -> None:
        selector = f"metadata.name={self.name}"
        listing = self.cluster.apps.list_namespaced_deployment(self.namespace, field_selector=selector)
        self.replicas += [d.spec.replicas for d in listing.items]
        version = listing.metadata.resource_version
        self._started.set()
        while not self._stop.is_set():
            for event in watch.Watch().stream(
                self.cluster.apps.list_namespaced_deployment,
                self.namespace,
                field_selector=selector,
                resource_version=version,
                timeout_seconds=2,
            ):
                version = event["object"].metadata.resource_version
                self.replicas.append(event["object"].spec.replicas)

    def __enter__(self) -> ReplicasSeen:
        self._thread.start()
        self._started.wait(30)
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(10)


def test_a_release_leaves_the_replicas_of_an_autoscaled_deployment_to_its_hpa(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    workspace = Workspace.create(tmp_path, "rolling", cluster.kubeconfig, NAMESPACE=namespace)
    assert (first := workspace.run("--image", V1)).code == ExitCode.OK, first
    # Production grew: an HPA of the cluster (not of the manifests) holds it at 5; the manifest still says 3.
    cluster.apply(namespace, _hpa("roll", minimum=5, maximum=8))
    _wait_available(cluster, namespace, "roll", 5)

    with ReplicasSeen(cluster, namespace, "roll") as seen:
        released = workspace.run("--image", V2)

    assert released.code == ExitCode.OK, released
    assert seen.replicas and min(seen.replicas) == 5, seen.replicas
    assert "leave spec.replicas of Deployment/roll to HorizontalPodAutoscaler/roll (5-8 replicas)" in _changes(
        released, "deploy"
    )
    assert served_images(cluster.service_url(namespace, "roll")) == {V2}


def test_an_apply_stopped_by_another_managers_field_names_it_and_the_setting_that_forces(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    workspace = Workspace.create(tmp_path, "rolling", cluster.kubeconfig, NAMESPACE=namespace)
    assert (first := workspace.run("--image", V1)).code == ExitCode.OK, first
    # Someone changes a field the manifest sets (as `kubectl edit` would): an update by another manager.
    cluster.apps.patch_namespaced_deployment(
        "roll",
        namespace,
        {"spec": {"progressDeadlineSeconds": 120}},
        field_manager="kubectl-edit",
        _content_type="application/merge-patch+json",
    )

    refused = workspace.run("--image", V2)

    assert refused.code != ExitCode.OK, refused
    assert "kubectl-edit manages .spec.progressDeadlineSeconds" in refused.stdout, refused
    assert "apply.force_conflicts: true" in refused.stdout
    assert cluster.apps.read_namespaced_deployment("roll", namespace).spec.progress_deadline_seconds == 120
    forced = workspace.run("--image", V2, FORCE_CONFLICTS="true")
    assert forced.code == ExitCode.OK, forced
    assert cluster.apps.read_namespaced_deployment("roll", namespace).spec.progress_deadline_seconds == 60


@pytest.fixture
def autoscaled(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    # Pods that ask for enough CPU that the tests' traffic stays well under the HPAs' target: the replicas seen
    # are the release's doing, not the load's.
    return Workspace.create(tmp_path, "autoscaled", cluster.kubeconfig, NAMESPACE=namespace, APP_CPU="200m")


def test_a_switch_first_brings_the_idle_role_to_the_active_roles_capacity(
    cluster: Cluster, namespace: str, autoscaled: Workspace
) -> None:
    assert (first := autoscaled.run("--image", V1)).code == ExitCode.OK, first
    # The public role grew to 3 (its HPA's minimum raised, as load would); the idle role's HPA keeps it at 1.
    autoscaling = client.AutoscalingV2Api(cluster.api)
    autoscaling.patch_namespaced_horizontal_pod_autoscaler(
        "web-blue", namespace, {"spec": {"minReplicas": 3}}, _content_type="application/merge-patch+json"
    )
    _wait_available(cluster, namespace, "web-blue", 3)
    staged = autoscaled.run("--image", V2, "--to", "deploy")
    assert staged.code == ExitCode.OK, staged
    assert cluster.apps.read_namespaced_deployment("web-green", namespace).spec.replicas == 1

    planned = autoscaled.run("--image", V2, "--from", "switch", "--to", "switch", "--dry-run")
    assert planned.code == ExitCode.OK, planned
    assert _changes(planned, "switch")[:2] == [
        "raise HorizontalPodAutoscaler/web-green minReplicas 1 -> 3 for the switch (given back at post-clean)",
        "scale Deployment/web-green 1 -> 3 before the switch",
    ]
    public = cluster.service_url(namespace, "web")
    with Load(public) as load, ReplicasSeen(cluster, namespace, "web-green") as seen:
        switched = autoscaled.run("--image", V2, "--from", "switch")

    assert switched.code == ExitCode.OK, switched
    assert not load.failures, load.summary()
    assert 3 in seen.replicas, seen.replicas
    # The role was at 3 available before the selector moved (the progress, in the order it happened).
    progress = switched.stderr
    raised = progress.index("deployment web-green: 3 of 3 replicas updated and available")
    assert raised < progress.index("service web now selects role=green"), progress
    # post-clean gave the HPA its own minimum back.
    assert autoscaling.read_namespaced_horizontal_pod_autoscaler("web-green", namespace).spec.min_replicas == 1
    assert any(
        "give back HorizontalPodAutoscaler/web-green spec.minReplicas 1" in c for c in _changes(switched, "post-clean")
    )


def test_a_role_scaled_down_to_zero_comes_back_with_the_next_release(
    cluster: Cluster, namespace: str, autoscaled: Workspace
) -> None:
    assert (first := autoscaled.run("--image", V1)).code == ExitCode.OK, first
    second = autoscaled.run("--image", V2, POST_CLEAN="scale-down")
    assert second.code == ExitCode.OK, second
    blue = cluster.apps.read_namespaced_deployment("web-blue", namespace)
    assert blue.spec.replicas == 0  # its HPA is off at 0 and will not scale it up

    third = autoscaled.run("--image", V3, "--to", "verify-staged")

    assert third.code == ExitCode.OK, third
    assert third.statuses()["verify-staged"] == "succeeded"
    assert "scale Deployment/web-blue 0 -> 1 (left at 0 by scale-down)" in _changes(third, "deploy")
    blue = cluster.apps.read_namespaced_deployment("web-blue", namespace)
    assert blue.spec.replicas >= 1 and blue.status.ready_replicas == blue.spec.replicas
    assert served_images(cluster.service_url(namespace, "web-test-blue")) == {V3}
