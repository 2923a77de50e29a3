"""Read-only verbs (status, rollback, unlock, approve, reject) need the objects' names, not their images:
rendering for names asks only for the variables that names and selectors depend on."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_steps.config import Overrides, load_config
from pipeline_steps.context import ReleaseContext
from pipeline_steps.errors import RenderError
from pipeline_steps.kube.offline import OfflineCluster
from pipeline_steps.state import RunState
from pipeline_steps.strategies.bluegreen import BlueGreen
from pipeline_steps.strategies.workloads import render

PIPELINE = """\
app: tomcat
namespace: shop
strategy: bluegreen
manifests: [deployment.yaml]
bluegreen:
  public_service: tomcat-service
"""

# The classic walk-through's manifest: the image tag is a variable of its own.
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: tomcat-deployment-${TARGET_ROLE}${SUFFIX:-}
spec:
  replicas: ${REPLICAS}
  selector:
    matchLabels: {app: tomcat, role: ${TARGET_ROLE}}
  template:
    metadata:
      labels: {app: tomcat, role: ${TARGET_ROLE}}
    spec:
      containers:
        - name: tomcat
          image: tomcat:${TOMCAT_VERSION}
          readinessProbe: {httpGet: {path: /, port: 8080}}
---
apiVersion: v1
kind: Service
metadata:
  name: tomcat-service
spec:
  selector: {app: tomcat, role: ${TARGET_ROLE}}
  ports: [{port: 80, targetPort: 8080}]
"""


def context(tmp_path: Path, deployment: str = DEPLOYMENT, **variables: str) -> ReleaseContext:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    (tmp_path / "deployment.yaml").write_text(deployment)
    config = load_config(tmp_path / "pipeline.yaml", variables, Overrides())
    return ReleaseContext(
        config=config,
        cluster=OfflineCluster("shop"),
        state=RunState("tomcat", "run-1", "bluegreen"),
        workspace=tmp_path,
        env={},
    )


def test_names_render_without_the_image_tag_or_replica_variables(tmp_path: Path) -> None:
    roles = BlueGreen(context(tmp_path)).roles
    assert roles.names_by_role() == {"blue": ["tomcat-deployment-blue"], "green": ["tomcat-deployment-green"]}
    assert roles.test_service("blue") is None  # the public Service is no test Service


def test_a_release_still_needs_every_variable(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"\$\{REPLICAS\} is not set") as raised:
        render(context(tmp_path), "blue")
    assert "TOMCAT_VERSION" in str(raised.value)
    assert "deployment.yaml:6" in str(raised.value)


def test_a_variable_of_a_name_is_asked_for_naming_file_line_and_field(tmp_path: Path) -> None:
    deployment = DEPLOYMENT.replace("${SUFFIX:-}", "-${SUFFIX}")
    with pytest.raises(RenderError) as raised:
        render(context(tmp_path, deployment), "blue", names_only=True)
    message = str(raised.value)
    assert "${SUFFIX} is not set, and Deployment metadata.name depends on it" in message
    assert "deployment.yaml:1" in message and "--set SUFFIX=" in message


def test_a_variable_of_a_selector_is_asked_for(tmp_path: Path) -> None:
    deployment = DEPLOYMENT.replace("selector: {app: tomcat, role: ${TARGET_ROLE}}", "selector: {app: ${APP_LABEL}}")
    with pytest.raises(RenderError, match=r"\$\{APP_LABEL\} is not set, and Service spec.selector depends on it"):
        render(context(tmp_path, deployment), "blue", names_only=True)


def test_set_variables_are_used_as_they_are(tmp_path: Path) -> None:
    [deployment, _] = render(context(tmp_path, SUFFIX="-x", TOMCAT_VERSION="9.0.98"), "green", names_only=True)
    assert deployment.name == "tomcat-deployment-green-x"
    assert deployment.body["spec"]["template"]["spec"]["containers"][0]["image"] == "tomcat:9.0.98"


LEGACY = DEPLOYMENT.replace("apiVersion: apps/v1", "apiVersion: extensions/v1beta1", 1).replace(
    "    matchLabels: {app: tomcat, role: ${TARGET_ROLE}}\n",
    "    matchLabels: {app: tomcat, role: ${TARGET_ROLE}}\n",
    1,
)


def test_a_finding_is_warned_once_per_run_however_often_the_manifests_render(tmp_path: Path) -> None:
    ctx = context(tmp_path, LEGACY, REPLICAS="2", TOMCAT_VERSION="9")
    shown: list[str] = []
    ctx.progress = shown.append
    for role in ("blue", "green", "blue"):
        render(ctx, role)
    legacy = [w for w in ctx.warnings if "extensions/v1beta1" in w]
    assert len(legacy) == 1, ctx.warnings
    assert sum("extensions/v1beta1" in line for line in shown) == 1


def test_read_only_verbs_load_a_config_whose_unset_variables_feed_no_name(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text(PIPELINE + "image:\n  reference: registry.local/tomcat:${TOMCAT_VERSION}\n")
    with pytest.raises(RenderError, match="TOMCAT_VERSION"):
        load_config(config, {}, Overrides())
    loaded = load_config(config, {}, Overrides(), names_only=True)
    assert (loaded.app, loaded.namespace, loaded.bluegreen.public_service) == ("tomcat", "shop", "tomcat-service")


def test_read_only_verbs_still_ask_for_a_variable_a_name_depends_on(tmp_path: Path) -> None:
    config = tmp_path / "pipeline.yaml"
    config.write_text(PIPELINE.replace("namespace: shop", "namespace: ${NAMESPACE}"))
    with pytest.raises(RenderError, match=r"\$\{NAMESPACE\} is not set"):
        load_config(config, {}, Overrides(), names_only=True)
