"""The releases the benchmark compares: pipeline-steps' own, and the plain ways teams release without it.

Every scenario releases the same app (the sandbox's pod app, 3 replicas) from the same old image to
the same new one, in a namespace of its own. `prepare` puts the old release out (not measured);
`release` puts the new one out while the load runs, and notes the moments its steps begin.

pipeline-steps runs as a user runs it: its CLI in a separate process, on a copy of a test app under
tests/e2e/apps/. The baselines run the sandbox's kubectl (1.36) on manifests of the same app made with
tests/support/app.py, as the classic walk-throughs write them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks.release_figures import Mark
from tests.support import app
from tests.support.release import Workspace

OLD_IMAGE, NEW_IMAGE = "registry.local/web:v1", "registry.local/web:v2"
REPLICAS = 3
#: post_clean.scale_down_delay's documented default (pipeline_steps/config/model.py).
DOCUMENTED_SCALE_DOWN_DELAY = "30s"
_STEP_LINE = re.compile(r"==> (\S+)")


class ReleaseFailed(RuntimeError):
    pass


@dataclass
class Env:
    """Where a scenario runs: the sandbox's kubeconfig and kubectl, its namespace and a directory of its own."""

    kubeconfig: Path
    kubectl: str
    namespace: str
    workdir: Path
    scale_down_delay: str = DOCUMENTED_SCALE_DOWN_DELAY
    marks: list[Mark] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def mark(self, label: str) -> float:
        at = time.monotonic()
        self.marks.append(Mark(at, label))
        return at

    def kubectl_run(self, *args: str, label: str | None = None, stdin: str | None = None) -> None:
        if label:
            self.mark(label)
        command = [self.kubectl, "--kubeconfig", str(self.kubeconfig), "-n", self.namespace, *args]
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=300, check=False)
        self.log.append(f"$ kubectl {' '.join(args)}\n{done.stdout}{done.stderr}")
        if done.returncode != 0:
            raise ReleaseFailed(f"kubectl {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")


@dataclass(frozen=True)
class Outcome:
    ok: bool
    switch_at: float | None = None
    detail: str = ""


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    service: str
    prepare: Callable[[Env], None]
    release: Callable[[Env], Outcome]


# -- pipeline-steps ----------------------------------------------------------------------------------------


def _workspace(env: Env, test_app: str, app_env: dict[str, str] | None = None, **settings: str) -> Workspace:
    workspace = Workspace.create(env.workdir, test_app, env.kubeconfig, NAMESPACE=env.namespace, **settings)
    manifest = workspace.path / "deploy" / "app.yaml"
    # Every scenario runs the same number of replicas; the rolling test app has 3, the blue/green one 2.
    text = re.sub(r"(?m)^  replicas: \d+$", f"  replicas: {REPLICAS}", manifest.read_text())
    for name, value in (app_env or {}).items():
        anchor = "            - {name: SANDBOX_EXIT_CODE"
        text = text.replace(anchor, f"            - {{name: {name}, value: {json.dumps(value)}}}\n{anchor}")
    manifest.write_text(text)
    return workspace


def _run_cli(env: Env, workspace: Workspace, image: str) -> tuple[int, str]:
    """`pipeline-steps run` as CI runs it; every step's start becomes a mark, read from its log as it runs."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_STEPS_", "GITHUB_", "BUILD_"))}
    full_env.update({"KUBECONFIG": str(workspace.kubeconfig), **workspace.env})
    command = [sys.executable, "-m", "pipeline_steps.cli", "run", "-c", str(workspace.config), "--output", "json"]
    process = subprocess.Popen(
        [*command, "--image", image],
        cwd=workspace.path,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            found = _STEP_LINE.search(line)
            if found:
                env.mark(found.group(1))
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code = process.wait(timeout=900)
    reader.join(timeout=10)
    log = "".join(lines)
    env.log.append(f"$ pipeline-steps run --image {image}  (exit {code})\n{log}")
    return code, log


def _pipeline_steps(
    test_app: str, app_env: dict[str, str] | None = None, **settings: str
) -> tuple[Callable[[Env], None], Callable[[Env], Outcome]]:
    workspaces: dict[str, Workspace] = {}

    def prepare(env: Env) -> None:
        resolved = {k: v.replace("{scale_down_delay}", env.scale_down_delay) for k, v in settings.items()}
        workspace = workspaces[env.namespace] = _workspace(env, test_app, app_env, **resolved)
        code, log = _run_cli(env, workspace, OLD_IMAGE)
        if code != 0:
            raise ReleaseFailed(f"the first release of {test_app} failed (exit {code}):\n{log[-3000:]}")
        env.marks.clear()

    def release(env: Env) -> Outcome:
        code, log = _run_cli(env, workspaces[env.namespace], NEW_IMAGE)
        switch = next((m.at for m in env.marks if m.label == "switch"), None) if test_app == "bluegreen" else None
        return Outcome(code == 0, switch, "" if code == 0 else f"exit {code}: {log[-2000:]}")

    return prepare, release


# -- the plain ways ----------------------------------------------------------------------------------------


def _manifests(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def _web(image: str, *, readiness: bool, strategy: str = "RollingUpdate") -> dict[str, Any]:
    """The app's Deployment as the walk-throughs write it: the default surge and unavailability, no preStop."""
    labels = {"app": "web"}
    deployment = app.deployment("web", image, labels, replicas=REPLICAS, readiness=readiness, max_surge="25%")
    deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = "25%"
    if strategy == "Recreate":
        deployment["spec"]["strategy"] = {"type": "Recreate"}
    return deployment


def _apply_baseline(*, readiness: bool, strategy: str = "RollingUpdate") -> tuple[Any, Any]:
    def prepare(env: Env) -> None:
        docs = [_web(OLD_IMAGE, readiness=readiness, strategy=strategy), app.service("web", {"app": "web"})]
        env.kubectl_run("apply", "-f", "-", stdin=_manifests(docs))
        env.kubectl_run("rollout", "status", "deployment/web", "--timeout=120s")
        env.marks.clear()

    def release(env: Env) -> Outcome:
        docs = [_web(NEW_IMAGE, readiness=readiness, strategy=strategy)]
        env.kubectl_run("apply", "-f", "-", stdin=_manifests(docs), label="kubectl apply")
        env.kubectl_run("rollout", "status", "deployment/web", "--timeout=180s", label="rollout status")
        return Outcome(True)

    return prepare, release


def _role(role: str, image: str) -> dict[str, Any]:
    labels = {"app": "web", "role": role}
    deployment = app.deployment(f"web-{role}", image, labels, replicas=REPLICAS, readiness=True, max_surge="25%")
    deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = "25%"
    return deployment


def _shell_blue_green() -> tuple[Any, Any]:
    def prepare(env: Env) -> None:
        docs = [_role("blue", OLD_IMAGE), app.service("web", {"app": "web", "role": "blue"})]
        env.kubectl_run("apply", "-f", "-", stdin=_manifests(docs))
        env.kubectl_run("rollout", "status", "deployment/web-blue", "--timeout=120s")
        env.marks.clear()

    def release(env: Env) -> Outcome:
        env.kubectl_run("apply", "-f", "-", stdin=_manifests([_role("green", NEW_IMAGE)]), label="kubectl apply")
        env.kubectl_run("rollout", "status", "deployment/web-green", "--timeout=180s", label="rollout status")
        selector = '{"spec":{"selector":{"app":"web","role":"green"}}}'
        env.kubectl_run("patch", "service", "web", "-p", selector, label="patch selector")
        switch_at = env.marks[-1].at
        env.kubectl_run("delete", "deployment", "web-blue", "--wait=false", label="delete old")
        return Outcome(True, switch_at)

    return prepare, release


def scenarios() -> list[Scenario]:
    keep = _pipeline_steps("bluegreen", POST_CLEAN="keep")
    scale_down = _pipeline_steps("bluegreen", POST_CLEAN="scale-down", SCALE_DOWN_DELAY="{scale_down_delay}")
    # The same release, but the app closes idle kept-alive connections at SIGTERM without a word, as servers
    # do that have no keep-alive drain: what scale-down means for kept-alive clients then.
    abrupt = _pipeline_steps(
        "bluegreen",
        {"SANDBOX_KEEPALIVE_ON_SIGTERM": "abrupt"},
        POST_CLEAN="scale-down",
        SCALE_DOWN_DELAY="{scale_down_delay}",
    )
    rolling = _pipeline_steps("rolling")
    recreate = _apply_baseline(readiness=True, strategy="Recreate")
    bare_rolling = _apply_baseline(readiness=False)
    rolling_no_prestop = _apply_baseline(readiness=True)
    shell = _shell_blue_green()
    return [
        Scenario("1", "pipeline-steps blue/green keep", "web", *keep),
        Scenario("2", "pipeline-steps blue/green scale-down", "web", *scale_down),
        Scenario("3", "pipeline-steps rolling", "roll", *rolling),
        Scenario("4", "kubectl Recreate", "web", *recreate),
        Scenario("5", "kubectl rolling, no probe, no preStop", "web", *bare_rolling),
        Scenario("6", "kubectl rolling, probe, no preStop", "web", *rolling_no_prestop),
        Scenario("7", "shell blue/green (kubectl)", "web", *shell),
        Scenario("8", "pipeline-steps blue/green scale-down, abrupt app", "web", *abrupt),
    ]
