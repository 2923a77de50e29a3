"""Faults survived: the control plane restarted or frozen in the middle of a release, pods that cannot run, and
two runs of one app at once. Each test says what a user sees (exit code, message) and shows that the public
endpoint lost nothing.

The faults are thrown at a sandbox of this module's own (the `cluster` fixture below): the session's sandbox is
shared by the tests other workers run at the same time, and a frozen or restarting API server would fail theirs.
Each test that stops or freezes a component leaves the control plane as it found it (the `control_plane`
fixture), so the tests after it see a healthy cluster.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from kubernetes import watch

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from pipeline_steps_sandbox.launcher import CONTROL_PLANE, Launcher, resolve_bin_dir
from pipeline_steps_sandbox.layout import SandboxState
from tests.support.live_run import LiveRun
from tests.support.release import Result, Workspace
from tests.support.traffic import Load, settled_images

V1, V2, V3, V4, V5 = (f"registry.local/web:v{n}" for n in range(1, 6))
#: Longer than one API request's read timeout (30 s), shorter than the node lifecycle controller's grace period
#: (50 s) less a node Lease's renewal period (10 s): the nodes stay Ready, as they would on a real cluster.
FREEZE_S = 33.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A sandbox for this module alone (overrides the plugin's shared one)."""
    if os.environ.get("PIPELINE_STEPS_E2E_KUBECONFIG"):
        pytest.skip("throws faults at the sandbox's own control plane")
    launcher = Launcher(tmp_path_factory.mktemp("fault-sandbox"))
    bin_dir = resolve_bin_dir(None, progress=lambda _message: None)
    launcher.up(nodes=3, bin_dir=str(bin_dir))
    try:
        yield Cluster.connect(launcher.layout.kubeconfig, launcher, str(bin_dir / "kubectl"))
    finally:
        launcher.down(quiet=True)


@pytest.fixture
def control_plane(cluster: Cluster, sandbox: Launcher) -> Iterator[Launcher]:
    """The sandbox's launcher; whatever the test stopped or froze runs again afterwards, and is healthy, its
    Nodes Ready."""
    yield sandbox
    state = SandboxState.load(sandbox.layout)
    assert state is not None
    for name in list(state.frozen):
        sandbox.thaw(name)
    for name in [n for n in CONTROL_PLANE if n in state.stopped]:
        sandbox.start(name)
    deadline = time.monotonic() + 60
    while (status := sandbox.status())["readyz"] != "ok" or not status["running"] or not _nodes_ready(cluster):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def _nodes_ready(cluster: Cluster) -> bool:
    return all(
        any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])
        for node in cluster.core.list_node().items
    )


@pytest.fixture
def workspace(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path, "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)


def _selector(cluster: Cluster, namespace: str, service: str = "web") -> dict[str, str]:
    return dict(cluster.core.read_namespaced_service(service, namespace).spec.selector)


def _released(workspace: Workspace, image: str, **env: str) -> None:
    result = workspace.run("--image", image, **env)
    assert result.code == ExitCode.OK, result


def _load(url: str) -> Load:
    """A steady client of the public endpoint: about 100 requests a second, new connection each, which shows any
    moment without a backend and leaves the two cores to the release."""
    return Load(url, workers=2, pause=0.02)


def _assert_no_traceback(result: Result) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result


# -- the control plane restarted or frozen mid-release ---------------------------------------------------------


@pytest.mark.parametrize("component", ["kube-apiserver", "etcd"])
def test_a_control_plane_restart_in_deploy_switch_and_verify_prod_is_waited_out(
    cluster: Cluster, namespace: str, workspace: Workspace, control_plane: Launcher, component: str
) -> None:
    """The component is killed and started again three times in one release: while deploy waits for the new
    role's readiness, while switch waits for the public Service's EndpointSlices, and while verify-prod runs.
    Each wait resumes (watches re-established, calls retried within their bound) and the release completes."""
    _released(workspace, V1)
    public = cluster.service_url(namespace, "web")
    with _load(public) as load, LiveRun(workspace, "--image", V2) as run:
        # The new role's pods cannot be scheduled until the scheduler runs again: deploy is sure to be waiting
        # for them when the component goes down.
        run.until("==> deploy")
        control_plane.freeze("kube-scheduler")
        run.until("deployment web-green: ")  # deploy now waits for the new role by watch
        control_plane.restart(component, kill=True)
        control_plane.thaw("kube-scheduler")
        run.until("==> switch")
        # The EndpointSlices cannot follow the switch until the controller manager runs again: the switch is
        # sure to be waiting for them when the component goes down.
        control_plane.freeze("kube-controller-manager")
        run.until("waiting for endpoints")
        control_plane.restart(component, kill=True)
        control_plane.thaw("kube-controller-manager")
        run.until("==> verify-prod")
        control_plane.restart(component, kill=True)
        result = run.finish()
    _assert_no_traceback(result)
    assert result.code == ExitCode.OK, result
    assert set(result.statuses().values()) <= {"succeeded", "unchanged"}, result
    assert _selector(cluster, namespace)["role"] == "green"
    assert settled_images(public) == {V2}
    assert not load.failures, load.summary()


def test_a_frozen_api_server_during_switch_ends_the_step_within_its_bounds_back_on_the_old_role(
    cluster: Cluster, namespace: str, workspace: Workspace, control_plane: Launcher
) -> None:
    """The API server accepts connections and answers nothing (SIGSTOP) for longer than a request's read timeout,
    while switch waits for the EndpointSlices. The wait is bounded by the switch timeout: it ends, names the call
    that timed out, and puts the public Service back on the old role once the server answers again."""
    _released(workspace, V1)
    public = cluster.service_url(namespace, "web")
    with _load(public) as load, LiveRun(workspace, "--image", V2, SWITCH_TIMEOUT="10s") as run:
        run.until("==> switch")
        control_plane.freeze("kube-controller-manager")  # the EndpointSlices cannot follow yet
        run.until("waiting for endpoints")
        time.sleep(0.5)  # the wait has listed the slices and is watching them
        control_plane.freeze("kube-apiserver")
        control_plane.thaw("kube-controller-manager")
        time.sleep(FREEZE_S)
        control_plane.thaw("kube-apiserver")
        result = run.finish()
    _assert_no_traceback(result)
    assert result.code == ExitCode.ROLLED_BACK, result
    assert result.statuses()["switch"] == "rolled-back", result
    report = result.json()
    [switch] = [step for step in report["steps"] if step["name"] == "switch"]
    assert "watch EndpointSlice" in switch["error"] and "timed out" in switch["error"], switch
    assert "switched public traffic back to role blue" in switch["summary"], switch
    assert _selector(cluster, namespace)["role"] == "blue"
    assert settled_images(public) == {V1}
    assert not load.failures, load.summary()


# -- pods that cannot run ----------------------------------------------------------------------------------------

#: (what is wrong, its env, what the deploy step's error must say). A crashing pod is certain to stay so, and so is
#: one asking more than the largest node has (no autoscaler here to bring a bigger one): the wait ends long before
#: its deadline (90 s) and says the rollout "cannot complete". A pod that never gets ready may still come good (a
#: fix in the app's dependencies): the wait takes its whole deadline, here 5 s.
BLUE_GREEN_POD_FAULTS = [
    ("crashes at start", {"APP_EXIT_CODE": "3"}, ["CrashLoopBackOff", "last exited 3 (Error)", "cannot complete"]),
    (
        "never gets ready",
        {"APP_READY": "false", "ROLLOUT_TIMEOUT": "5s"},
        ["Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "did not complete in 5s"],
    ),
    (
        "cannot be scheduled",
        {"APP_CPU": "1000"},
        ["Unschedulable", "Insufficient cpu", "asks 1000 cpu, the largest node has 16", "cannot complete"],
    ),
]


def test_pods_that_cannot_run_fail_deploy_naming_pods_and_reason_and_blue_green_never_switches(
    cluster: Cluster, namespace: str, workspace: Workspace
) -> None:
    _released(workspace, V1)
    public = cluster.service_url(namespace, "web")
    service_version = cluster.core.read_namespaced_service("web", namespace).metadata.resource_version
    for what, env, expected in BLUE_GREEN_POD_FAULTS:
        with _load(public) as load:
            result = workspace.run("--image", V2, **env)
        _assert_no_traceback(result)
        assert result.code == ExitCode.FAILED, (what, result)
        assert result.statuses()["deploy"] == "failed", (what, result)
        assert "switch" not in result.statuses(), (what, result)
        [deploy] = [step for step in result.json()["steps"] if step["name"] == "deploy"]
        pods = {p.metadata.name for p in cluster.pods(namespace, "role=green")}
        assert any(f"pod {pod}: {expected[0]}" in deploy["error"] for pod in pods), (what, pods, deploy)
        for words in expected[1:]:
            assert words in deploy["error"], (what, words, deploy)
        # The public Service never moved: not its selector, not anything else about it.
        assert cluster.core.read_namespaced_service("web", namespace).metadata.resource_version == service_version
        assert not load.failures, (what, load.summary())
        assert {a.image for a in load.answers} == {V1}, what


def test_an_image_no_node_can_pull_in_a_rolling_release_is_undone_early_naming_pod_and_reason(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    workspace = Workspace.create(tmp_path, "rolling", cluster.kubeconfig, NAMESPACE=namespace)
    _released(workspace, V1)
    public = cluster.service_url(namespace, "roll")
    with _load(public) as load:
        result = workspace.run("--image", "registry.invalid/web:v2")
    _assert_no_traceback(result)
    assert result.code == ExitCode.ROLLED_BACK, result
    assert result.statuses()["deploy"] == "rolled-back", result
    [deploy] = [step for step in result.json()["steps"] if step["name"] == "deploy"]
    assert re.search(
        r"pod roll-[a-z0-9]+-[a-z0-9]+: (ErrImagePull|ImagePullBackOff) \(container app: ", deploy["error"]
    )
    assert "lookup registry.invalid: no such host" in deploy["error"], deploy
    assert "cannot complete" in deploy["error"], deploy  # before the deadline (90 s)
    assert "undone" in deploy["summary"], deploy
    assert cluster.apps.read_namespaced_deployment("roll", namespace).spec.template.spec.containers[0].image == V1
    assert not load.failures, load.summary()
    assert {a.image for a in load.answers} == {V1}


# -- two runs at once -----------------------------------------------------------------------------------------


class SelectorRecorder:
    """Every role the public Service selected while the recorder ran, in order."""

    def __init__(self, cluster: Cluster, namespace: str, service: str) -> None:
        self.roles: list[str | None] = []
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._follow, args=(cluster, namespace, service), daemon=True)

    def _follow(self, cluster: Cluster, namespace: str, service: str) -> None:
        with contextlib.suppress(urllib3.exceptions.ProtocolError):  # cut when the watch is stopped
            for event in self._watch.stream(
                cluster.core.list_namespaced_service, namespace, field_selector=f"metadata.name={service}"
            ):
                role = (event["object"].spec.selector or {}).get("role")
                if not self.roles or self.roles[-1] != role:
                    self.roles.append(role)

    def __enter__(self) -> SelectorRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._watch.stop()


def _one_won(results: dict[str, Result]) -> tuple[str, Result]:
    """The image of the run that released and its result, after checking the other failed naming it."""
    for result in results.values():
        _assert_no_traceback(result)
    assert sorted(r.code for r in results.values()) == [ExitCode.OK, ExitCode.FAILED], results
    [(image, winner)] = [(image, r) for image, r in results.items() if r.code == ExitCode.OK]
    [loser] = [r for r in results.values() if r.code == ExitCode.FAILED]
    assert f"run {winner.json()['run_id']} " in loser.stderr, loser
    return image, winner


def test_two_runs_of_one_app_from_two_shells_one_releases_and_the_other_names_it(
    cluster: Cluster, namespace: str, workspace: Workspace, control_plane: Launcher
) -> None:
    """Two shells, one checkout, the same command with two images: exactly one run changes the cluster; the other
    fails before it changes anything, naming the run that holds the app. Started together, either may win. Started
    while the first deploys, the second finds the first's unfinished run in the workspace, and must not take it
    over as if it were the leftover of a run that died."""
    _released(workspace, V1)
    public = cluster.service_url(namespace, "web")

    with (
        _load(public) as load,
        SelectorRecorder(cluster, namespace, "web") as selectors,
        LiveRun(workspace, "--image", V2) as first,
        LiveRun(workspace, "--image", V3) as second,
    ):
        image, _ = _one_won({V2: first.finish(), V3: second.finish()})
    # The loser changed nothing: the new role runs the winner's release, and the public Service moved once, from
    # the old role to the new, never selecting anything else meanwhile.
    assert (
        cluster.apps.read_namespaced_deployment("web-green", namespace).spec.template.spec.containers[0].image == image
    )
    assert selectors.roles == ["blue", "green"], selectors.roles
    assert settled_images(public) == {image}
    assert not load.failures, load.summary()
    assert {a.image for a in load.answers} == {V1, image}

    with (
        _load(public) as load,
        SelectorRecorder(cluster, namespace, "web") as selectors,
        LiveRun(workspace, "--image", V4) as first,
    ):
        # The first run's new pods wait for the scheduler: it is sure to be still deploying meanwhile.
        first.until("==> deploy")
        control_plane.freeze("kube-scheduler")
        first.until("applied Deployment/web-blue")
        with LiveRun(workspace, "--image", V5) as second:
            results = {V5: second.finish()}
        control_plane.thaw("kube-scheduler")
        results[V4] = first.finish()
    assert _one_won(results)[0] == V4
    assert cluster.apps.read_namespaced_deployment("web-blue", namespace).spec.template.spec.containers[0].image == V4
    assert selectors.roles == ["green", "blue"], selectors.roles
    assert settled_images(public) == {V4}
    assert not load.failures, load.summary()
    assert {a.image for a in load.answers} == {image, V4}
