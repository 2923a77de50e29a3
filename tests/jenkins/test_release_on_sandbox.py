"""The Jenkinsfile and the shared library under Jenkins' interpreter (the harness), running the real command line
against the sandbox cluster: what a user sees after each kind of build. The public Service's selector and what its
endpoint answers, the release lock's Lease, the reports the build publishes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps.outcome import ExitCode
from pipeline_steps.step_names import STEP_NAMES
from pipeline_steps_sandbox.cluster import Cluster
from tests.jenkins.harness import Jenkins
from tests.jenkins.scenario import EXAMPLE, JENKINSFILE, Setup, build, ran, run
from tests.support.release import APPS, Workspace
from tests.support.traffic import settled_images

pytestmark = pytest.mark.e2e

V1, V2 = "registry.local/web:v1", "registry.local/web:v2"
STEPS = [f"step {name}" for name in STEP_NAMES]
BUILD_TAG = "jenkins-release-shop-1"
LEASE = "pipeline-steps-web"  #: the release lock of the test app (pipeline_steps.release_lock.lease_name)


@pytest.fixture
def released_v1(cluster: Cluster, namespace: str, tmp_path: Path) -> Iterator[str]:
    """V1 released and public on role blue, as the CLI's own tests do it; yields the public URL."""
    workspace = Workspace.create(tmp_path / "first", "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    first = workspace.run("--image", V1)
    assert first.code == ExitCode.OK, first
    assert selector(cluster, namespace)["role"] == "blue"
    url = cluster.service_url(namespace, "web")
    assert settled_images(url) == {V1}
    yield url


def sandbox_setup(cluster: Cluster, namespace: str, tmp_path: Path, **env: str) -> Setup:
    """Agents whose pipeline-steps is the real one, the test app as the job's repository (deploy/), and the
    app's own variables in the agents' environment; IMAGE is the build parameter."""
    return Setup.create(
        tmp_path / "jenkins", real_cli=True, app_dir=APPS / "bluegreen", kubeconfig=cluster.kubeconfig,
        NAMESPACE=namespace, **env,
    )  # fmt: skip


def selector(cluster: Cluster, namespace: str) -> dict[str, str]:
    return dict(cluster.core.read_namespaced_service("web", namespace).spec.selector)


def lease_holders(cluster: Cluster, namespace: str) -> dict[str, str | None]:
    leases = cluster.coordination.list_namespaced_lease(namespace).items
    return {lease.metadata.name: lease.spec.holder_identity for lease in leases}


def v2(pipeline: Path, **spec: Any) -> dict[str, Any]:
    return build(pipeline, params={"IMAGE": V2, **spec.pop("params", {})}, **spec)


@pytest.mark.parametrize("pipeline", [JENKINSFILE, EXAMPLE], ids=["Jenkinsfile", "library"])
def test_an_approved_build_releases_the_new_version(
    jenkins: Jenkins, cluster: Cluster, namespace: str, released_v1: str, tmp_path: Path, pipeline: Path
) -> None:
    setup = sandbox_setup(cluster, namespace, tmp_path)
    [done] = run(jenkins, setup, v2(pipeline))
    assert done["result"] == "SUCCESS", done["log"]
    assert ran(done) == STEPS
    assert selector(cluster, namespace)["role"] == "green"
    assert settled_images(released_v1) == {V2}
    annotations = cluster.core.read_namespaced_service("web", namespace).metadata.annotations
    assert annotations["pipeline-steps.dev/run-id"] == BUILD_TAG
    assert annotations["pipeline-steps.dev/previous-role"] == "blue"
    assert LEASE not in lease_holders(cluster, namespace)  # post-clean gave back the lock
    # What the build publishes: a JUnit report per step (each passed) and the run's state.
    published = {report["file"] for report in done["junit"]}
    assert published == {f"reports/{step}.xml" for step in STEP_NAMES}
    assert all(report["failures"] == 0 and report["errors"] == 0 for report in done["junit"])
    assert ".pipeline-steps/state/shop.json" in done["artifacts"]
    # The test app's confirm.timeout is 60s: the 30-minute approval gate outlives its release lock.
    [confirm] = [r for r in done["sh"] if "confirm" in (r.get("label") or r["script"])]
    assert "the CI's approval gate may wait 30 min" in confirm["stderr"]


def test_a_rejected_approval_changes_nothing_public_and_gives_back_the_lock(
    jenkins: Jenkins, cluster: Cluster, namespace: str, released_v1: str, tmp_path: Path
) -> None:
    setup = sandbox_setup(cluster, namespace, tmp_path)
    seen: list[tuple[str, dict[str, str | None]]] = []  #: (script, the Leases just before it ran)

    def look(event: dict[str, Any]) -> None:
        seen.append((event["script"], lease_holders(cluster, namespace)))

    done_builds = jenkins.run(
        setup.scenario(
            v2(JENKINSFILE, inputs={"ReleaseApproval": {"answer": "reject", "by": "alice"}}), pauseBeforeSh=True
        ),
        on_event=look,
    )
    [done] = done_builds
    assert done["result"] == "ABORTED"
    [(_, before_unlock)] = [(script, leases) for script, leases in seen if script == "pipeline-steps unlock"]
    assert before_unlock.get(LEASE) == BUILD_TAG  # held by this build while the person decided
    assert LEASE not in lease_holders(cluster, namespace)
    assert selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}
    annotations = cluster.core.read_namespaced_service("web", namespace).metadata.annotations or {}
    assert annotations.get("pipeline-steps.dev/run-id") != BUILD_TAG


def test_an_abort_after_switch_puts_the_old_version_back(
    jenkins: Jenkins, cluster: Cluster, namespace: str, released_v1: str, tmp_path: Path
) -> None:
    setup = sandbox_setup(cluster, namespace, tmp_path)
    [done] = run(jenkins, setup, v2(JENKINSFILE, abortAt="Verify Prod"))
    assert done["result"] == "ABORTED"
    assert ran(done) == [*STEPS[: STEPS.index("step switch") + 1], "rollback", "unlock"]
    assert selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}
    assert LEASE not in lease_holders(cluster, namespace)


def test_a_failing_verify_prod_switches_back_once(
    jenkins: Jenkins, cluster: Cluster, namespace: str, released_v1: str, tmp_path: Path
) -> None:
    """verify-prod's checks fail (the app's PROD_BODY never matches): the step switches back itself and exits 3;
    the pipeline must not roll back again, which would put the failed release back in public."""
    setup = sandbox_setup(cluster, namespace, tmp_path, PROD_BODY="no-release-answers-this")
    [done] = run(jenkins, setup, v2(EXAMPLE))
    assert done["result"] == "FAILURE"
    assert ran(done) == [*STEPS[: STEPS.index("step verify-prod") + 1], "unlock"]
    assert "exited 3" in done["error"]
    assert selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}


def test_a_dry_run_changes_nothing(
    jenkins: Jenkins, cluster: Cluster, namespace: str, released_v1: str, tmp_path: Path
) -> None:
    setup = sandbox_setup(cluster, namespace, tmp_path)
    [done] = run(jenkins, setup, v2(JENKINSFILE, params={"DRY_RUN": True}))
    assert done["result"] == "SUCCESS", done["log"]
    assert ran(done) == STEPS and done["inputs"] == []
    assert selector(cluster, namespace)["role"] == "blue"
    assert settled_images(released_v1) == {V1}
    assert LEASE not in lease_holders(cluster, namespace)
