"""Manifests of the test app: the sandbox's pod process, which answers with its pod, image and role.

On the sandbox every container runs that process whatever its image. On an external cluster
(PIPELINE_STEPS_E2E_KUBECONFIG) the same process runs from a ConfigMap in a stock Python image,
with the downward API filling in what the sandbox's agent would, so the tests' assertions hold there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pipeline_steps_sandbox import pod_app

EXTERNAL_IMAGE = os.environ.get("PIPELINE_STEPS_E2E_APP_IMAGE", "python:3.12-alpine")
APP_CONFIGMAP = "pipeline-steps-test-app"


def app_configmap() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": APP_CONFIGMAP},
        "data": {"pod_app.py": Path(pod_app.__file__).read_text()},
    }


def deployment(
    name: str,
    image: str,
    labels: dict[str, str],
    *,
    replicas: int = 3,
    env: dict[str, str] | None = None,
    readiness: bool = True,
    max_surge: int | str = 1,
    max_unavailable: int | str = 0,
    prestop_seconds: int | None = None,
    grace_seconds: int | None = None,
    progress_deadline: int | None = None,
    external: bool = False,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": image,
        "ports": [{"containerPort": 8080, "name": "http"}],
        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
    }
    if readiness:
        container["readinessProbe"] = {
            "httpGet": {"path": "/healthz", "port": "http"},
            "periodSeconds": 1,
            "failureThreshold": 1,
        }
    if prestop_seconds is not None:
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": prestop_seconds}}}
    pod_spec: dict[str, Any] = {"containers": [container]}
    if grace_seconds is not None:
        pod_spec["terminationGracePeriodSeconds"] = grace_seconds
    if external:
        _run_from_configmap(container, pod_spec, image)
    spec: dict[str, Any] = {
        "replicas": replicas,
        "selector": {"matchLabels": labels},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": max_surge, "maxUnavailable": max_unavailable},
        },
        "template": {"metadata": {"labels": labels}, "spec": pod_spec},
    }
    if progress_deadline is not None:
        spec["progressDeadlineSeconds"] = progress_deadline
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def _run_from_configmap(container: dict[str, Any], pod_spec: dict[str, Any], image: str) -> None:
    container["image"] = EXTERNAL_IMAGE
    container["command"] = ["python", "/app/pod_app.py"]
    container["volumeMounts"] = [{"name": "app", "mountPath": "/app"}]
    field_env = {
        "SANDBOX_POD_NAME": "metadata.name",
        "SANDBOX_POD_NAMESPACE": "metadata.namespace",
        "SANDBOX_POD_IP": "status.podIP",
        "SANDBOX_POD_NODE": "spec.nodeName",
    }
    container["env"] += [{"name": k, "valueFrom": {"fieldRef": {"fieldPath": v}}} for k, v in field_env.items()]
    container["env"] += [
        {"name": "SANDBOX_POD_LISTEN_HOST", "value": "0.0.0.0"},
        {"name": "SANDBOX_POD_PORTS", "value": "8080"},
        {"name": "SANDBOX_POD_IMAGE", "value": image},
        {"name": "SANDBOX_POD_ROLE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['role']"}}},
    ]
    pod_spec["volumes"] = [{"name": "app", "configMap": {"name": APP_CONFIGMAP}}]


def service(name: str, selector: dict[str, str], service_type: str = "LoadBalancer") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": service_type,
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }
