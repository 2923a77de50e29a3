"""The shipped examples and the README's demo command, released on the cluster as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from pipeline_steps_sandbox.launcher import marked_processes
from tests.support.release import Workspace
from tests.support.traffic import settled_images

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def _example(name: str, tmp_path: Path, cluster: Cluster, namespace: str) -> Workspace:
    path = tmp_path / "workspace"
    shutil.copytree(EXAMPLES / name, path / "deploy")
    # Registry-less images on the sandbox: deploy by tag; no person to ask in a test.
    env = {"NAMESPACE": namespace, "RESOLVE_DIGEST": "false", "CONFIRM_MODE": "auto"}
    return Workspace(path, cluster.kubeconfig, env)


@pytest.mark.parametrize(
    ("example", "public_service", "old", "new", "env"),
    [
        ("tomcat-bluegreen", "tomcat-service", "tomcat:9.0.98", "tomcat:9.0.99", {}),
        ("tomcat-rolling", "tomcat", "tomcat:9.0.98", "tomcat:9.0.99", {}),
        (
            "model-serving",
            "resnet",
            "tensorflow/serving:2.17.0",
            "tensorflow/serving:2.18.0",
            {"MODEL_PATH": "gs://models/resnet/7"},
        ),
    ],
)
def test_example_releases_a_new_version_to_the_public_endpoint(
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
    example: str,
    public_service: str,
    old: str,
    new: str,
    env: dict[str, str],
) -> None:
    workspace = _example(example, tmp_path, cluster, namespace)
    first = workspace.run("--image", old, **env)
    assert first.code == ExitCode.OK, first
    public = cluster.service_url(namespace, public_service)
    assert settled_images(public) == {old}

    second = workspace.run("--image", new, **env)
    assert second.code == ExitCode.OK, second
    assert settled_images(public) == {new}
    if example == "model-serving":
        # post_clean: hot-backup keeps the previous role warm on the new model too.
        deployments = cluster.apps.list_namespaced_deployment(namespace).items
        images = {d.metadata.name: d.spec.template.spec.containers[0].image for d in deployments}
        assert images == {"resnet-blue": new, "resnet-green": new}
        pods = cluster.pods(namespace, "app=resnet")
        assert {e.value for p in pods for e in p.spec.containers[0].env if e.name == "MODEL_PATH"} == {
            env["MODEL_PATH"]
        }


@pytest.mark.usefixtures("sandbox")  # the demo starts a sandbox of its own: not on an external cluster
def test_readme_demo_command_releases_blue_green_and_cleans_up(tmp_path: Path) -> None:
    """`bash scripts/demo.sh`, the README's first command, on a sandbox of its own."""
    demo_dir = tmp_path / "demo-sandbox"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_STEPS_", "KUBECONFIG"))}
    env["PIPELINE_STEPS_SANDBOX_BIN"] = os.environ.get("PIPELINE_STEPS_SANDBOX_BIN", "")
    env["DEMO_SANDBOX_DIR"] = str(demo_dir)
    if not env["PIPELINE_STEPS_SANDBOX_BIN"]:
        del env["PIPELINE_STEPS_SANDBOX_BIN"]
    completed = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # one stream, in the order a user sees it
        text=True,
        timeout=600,
        check=False,
    )
    output = completed.stdout
    assert completed.returncode == 0, output
    before, _, after = output.partition("release 2: tomcat:9.0.99")
    assert "role=blue   image=tomcat:9.0.98" in before, output
    answers = [line for line in after.splitlines() if line.strip().startswith("200  role=")]
    assert len(answers) == 6, output
    assert all("role=green  image=tomcat:9.0.99" in line for line in answers), answers
    assert "stopped: node-agent" in output
    assert marked_processes(demo_dir) == []
