"""A confirm step ready to run through the runner on the cluster: a config with the given `confirm` section,
the facts the steps before it leave (roles, images, staged checks, preview URL), and a KubeCluster on the
test's namespace.

What other processes do while the step waits (a person running `approve`, another run opening its own
request) goes through a connection of its own, as it would from another process. It happens at a chosen
moment (once the wait has read the record, or as it times out) through one narrow wrapper around the step
cluster's `wait`, which also records each wait's timeout; every read and write still goes to the API server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from pipeline_steps import approvals
from pipeline_steps.config import Overrides, parse_config
from pipeline_steps.context import Prompt, ReleaseContext
from pipeline_steps.facts import RunFacts
from pipeline_steps.kube.cluster import KubeCluster, WaitTimeout
from pipeline_steps.kube.connection import connect
from pipeline_steps.report import RunReport
from pipeline_steps.runner import run
from pipeline_steps.state import RunState
from pipeline_steps_sandbox.cluster import Cluster

RUN_ID = "build-42"
RECORD = approvals.record_name("web")
OLD_IMAGE = "registry.example.com/web@sha256:" + "a" * 64
NEW_IMAGE = "registry.example.com/web@sha256:" + "b" * 64
PREVIEW = "http://10.0.0.7:80"
MAIL = {"host": "smtp.example.com", "from": "ci@example.com", "to": "ops@example.com"}

Action = Callable[[], object]


def kube_cluster(cluster: Cluster, namespace: str) -> KubeCluster:
    """The library's cluster adapter on `namespace`, with a connection of its own (as another process has)."""
    return KubeCluster(connect(str(cluster.kubeconfig), None), namespace)


def read_record(cluster: Cluster, namespace: str, name: str = RECORD) -> dict[str, Any] | None:
    """The approval record as the API server holds it (read with the official client, not the adapter)."""
    try:
        found = cluster.core.read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return dict(cluster.api.sanitize_for_serialization(found))


def record_annotations(cluster: Cluster, namespace: str, name: str = RECORD) -> dict[str, str]:
    found = read_record(cluster, namespace, name)
    assert found is not None, f"no ConfigMap {name} in {namespace}"
    return dict((found.get("metadata") or {}).get("annotations") or {})


@dataclasses.dataclass
class Waits:
    """What happens around the waits of one KubeCluster: the timeout of each, and actions of other processes
    run once a wait has read the objects (`meanwhile`: the wait must then see them by watch) or when it
    times out, just before it raises (`at_timeout`: a decision arriving as the time runs out)."""

    timeouts: list[float] = dataclasses.field(default_factory=list)
    meanwhile: list[Action] = dataclasses.field(default_factory=list)
    at_timeout: list[Action] = dataclasses.field(default_factory=list)

    @classmethod
    def around(cls, monkeypatch: pytest.MonkeyPatch, kube: KubeCluster) -> Waits:
        waits = cls()
        real_wait = kube.wait

        def wait(*args: Any, timeout: float, on_progress: Callable[[str], None] | None = None, **kwargs: Any) -> Any:
            waits.timeouts.append(timeout)

            def progress(message: str) -> None:
                if on_progress:
                    on_progress(message)
                # The first report comes after the wait listed the objects, before it watches them.
                while waits.meanwhile:
                    waits.meanwhile.pop(0)()

            try:
                return real_wait(*args, timeout=timeout, on_progress=progress, **kwargs)
            except WaitTimeout:
                while waits.at_timeout:
                    waits.at_timeout.pop(0)()
                raise

        monkeypatch.setattr(kube, "wait", wait)
        return waits


@dataclasses.dataclass
class Setup:
    cluster: Cluster
    namespace: str
    #: The step's cluster.
    kube: KubeCluster
    #: Another process's connection: the person running `pipeline-steps approve`, another run.
    other: KubeCluster
    ctx: ReleaseContext
    progress: list[str]
    waits: Waits

    def run(self, *names: str) -> RunReport:
        return run(self.ctx, list(names) or ["confirm"])

    def record_decision(self, decision: str = "approved", approver: str = "alice", comment: str = "") -> None:
        """What `pipeline-steps approve|reject --run-id RUN_ID` does, from another process."""
        approvals.record_decision(
            self.other, "web", run_id=RUN_ID, decision=decision, approver=approver, allowed=(), comment=comment
        )

    def decide(self, decision: str = "approved", approver: str = "alice", comment: str = "") -> None:
        """Decide while the step waits."""
        self.waits.meanwhile.append(lambda: self.record_decision(decision, approver, comment))

    def record(self) -> dict[str, Any] | None:
        return read_record(self.cluster, self.namespace)

    def annotations(self) -> dict[str, str]:
        return record_annotations(self.cluster, self.namespace)


def release_context(
    kube: KubeCluster,
    mode: str = "wait",
    *,
    prompt: Prompt | None = None,
    env: dict[str, str] | None = None,
    progress: Callable[[str], None] = lambda _message: None,
    **confirm_section: Any,
) -> ReleaseContext:
    data = {
        "app": "web",
        "namespace": kube.namespace,
        "manifests": ["app.yaml"],
        "confirm": {"mode": mode, **confirm_section},
    }
    config = parse_config(data, path=Path("deploy/pipeline.yaml"), variables={}, overrides=Overrides())
    facts = RunFacts(
        active_role="blue",
        target_role="green",
        roles={"blue": {"images": [OLD_IMAGE]}, "green": {"images": []}},
        image_ref=NEW_IMAGE,
        preview_url=PREVIEW,
        staged_checks=[{"name": "staged answers", "target": PREVIEW + "/", "passed": True, "detail": "200"}],
    )
    return ReleaseContext(
        config=config,
        cluster=kube,
        state=RunState("web", RUN_ID, "bluegreen", facts=facts),
        workspace=Path("."),
        env=env or {},
        prompt=prompt,
        progress=progress,
    )


@dataclasses.dataclass
class Setups:
    """Makes confirm steps on the test's namespace: `setups("wait", timeout="45s", mail=...)`."""

    cluster: Cluster
    namespace: str
    monkeypatch: pytest.MonkeyPatch

    def __call__(
        self, mode: str = "wait", *, prompt: Prompt | None = None, env: dict[str, str] | None = None, **confirm: Any
    ) -> Setup:
        kube = kube_cluster(self.cluster, self.namespace)
        waits = Waits.around(self.monkeypatch, kube)
        progress: list[str] = []
        ctx = release_context(kube, mode, prompt=prompt, env=env, progress=progress.append, **confirm)
        other = kube_cluster(self.cluster, self.namespace)
        return Setup(self.cluster, self.namespace, kube, other, ctx, progress, waits)
