"""The sandbox behaves as a real cluster does, down to the data plane's races."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline_steps_sandbox.cluster import Cluster
from pipeline_steps_sandbox.launcher import Launcher, marked_processes
from pipeline_steps_sandbox.layout import SandboxState
from pipeline_steps_sandbox.netns import NetworkPlan, inventory
from pipeline_steps_sandbox.sockets import listening
from tests.support import app
from tests.support.rollout import RolloutRecorder
from tests.support.traffic import Answer, Load, fetch, recovered_after_failures, wait_serving

WEB = {"app": "web"}


def _first_container_running(pod: Any) -> bool:
    statuses = pod.status.container_statuses
    return bool(statuses and statuses[0].state.running)


def _deploy_web(cluster: Cluster, namespace: str, image: str = "demo/app:v1", **kwargs: Any) -> str:
    cluster.apply(
        namespace, app.deployment("web", image, WEB, external=cluster.external, **kwargs), app.service("web", WEB)
    )
    cluster.wait_deployment_available(namespace, "web")
    return cluster.service_url(namespace, "web")


def _settle(cluster: Cluster, namespace: str, selector: str, count: int, timeout: float = 60.0) -> None:
    """Wait until exactly `count` pods match and none is terminating, plus the proxy's catch-up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = cluster.pods(namespace, selector)
        if len(pods) == count and not any(p.metadata.deletion_timestamp for p in pods):
            # kube-proxy programs its rules a second or more after the pods changed (longer on a busy
            # machine), as on any cluster: the load ends on a data plane that has caught up.
            time.sleep(5.0)
            return
        time.sleep(0.2)
    raise TimeoutError(f"pods {selector} did not settle at {count}")


def test_control_plane_is_kubernetes_1_36_and_ready(cluster: Cluster, sandbox: Launcher) -> None:
    version = json.loads(
        subprocess.run(
            [cluster.kubectl, "--kubeconfig", str(cluster.kubeconfig), "version", "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert version["serverVersion"]["gitVersion"].startswith("v1.36.")
    assert version["clientVersion"]["gitVersion"].startswith("v1.36.")
    readyz = subprocess.run(
        [cluster.kubectl, "--kubeconfig", str(cluster.kubeconfig), "get", "--raw", "/readyz"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert readyz.strip() == "ok"
    assert cluster.core.read_namespaced_service_account("default", "default").metadata.name == "default"
    nodes = cluster.core.list_node().items
    assert len(nodes) == 3
    assert all(any(c.type == "Ready" and c.status == "True" for c in n.status.conditions) for n in nodes)


def test_deployment_of_three_answers_from_every_pod(cluster: Cluster, namespace: str) -> None:
    url = _deploy_web(cluster, namespace, replicas=3)

    pods = {p.metadata.name for p in cluster.pods(namespace, "app=web")}
    # The data plane follows the EndpointSlice a moment after the Deployment is available.
    answers: list[Answer] = []
    deadline = time.monotonic() + 10
    while {a.pod for a in answers} != pods and time.monotonic() < deadline:
        answers.append(fetch(url))

    assert all(a.ok for a in answers), [a for a in answers if not a.ok]
    assert len(pods) == 3
    assert {a.pod for a in answers} == pods
    assert {a.image for a in answers} == {"demo/app:v1"}


def test_image_change_rolls_within_surge_limits_and_switches_answers(cluster: Cluster, namespace: str) -> None:
    # preStop 2 s: four times the proxy's catch-up, so a loaded machine does not turn it into a race.
    url = _deploy_web(cluster, namespace, replicas=3, max_surge=1, max_unavailable=0, prestop_seconds=2)

    with RolloutRecorder(cluster, namespace, "web") as rollout, Load(url, workers=3) as load:
        time.sleep(0.5)
        cluster.apply(
            namespace,
            app.deployment(
                "web",
                "demo/app:v2",
                WEB,
                replicas=3,
                max_surge=1,
                max_unavailable=0,
                prestop_seconds=2,
                external=cluster.external,
            ),
        )
        cluster.wait_deployment_available(namespace, "web")
        _settle(cluster, namespace, "app=web", 3)

    assert load.failures == [], load.summary()
    images = [a.image for a in load.answers]
    assert images[0] == "demo/app:v1"
    assert images[-1] == "demo/app:v2"
    assert all(fetch(url).image == "demo/app:v2" for _ in range(10))
    # The real deployment controller kept to maxSurge=1 and maxUnavailable=0.
    assert rollout.requested and rollout.available, "no rollout was observed"
    assert max(rollout.requested) == 4, rollout.requested
    assert min(rollout.available) >= 3, rollout.available
    assert 3 in rollout.updated


def test_pod_failing_readiness_is_never_sent_traffic(cluster: Cluster, namespace: str) -> None:
    good = {"app": "web", "track": "good"}
    bad = {"app": "web", "track": "bad"}
    cluster.apply(
        namespace,
        app.deployment("good", "demo/app:v1", good, replicas=2, external=cluster.external),
        app.deployment(
            "bad", "demo/app:bad", bad, replicas=1, env={"SANDBOX_READY": "false"}, external=cluster.external
        ),
        app.service("web", WEB),
    )
    cluster.wait_deployment_available(namespace, "good")
    url = cluster.service_url(namespace, "web")
    bad_pod = cluster.wait_for(
        "bad pod running",
        cluster.core.list_namespaced_pod,
        _first_container_running,
        namespace=namespace,
        label_selector="track=bad",
    )
    time.sleep(2)  # several probe periods: the pod has been probed and refused
    wait_serving(url)  # a new Service reaches kube-proxy's rules a moment after its endpoints are ready

    answers = [fetch(url) for _ in range(60)]

    assert all(a.ok for a in answers)
    assert {a.image for a in answers} == {"demo/app:v1"}
    bad_pod = cluster.core.read_namespaced_pod(bad_pod.metadata.name, namespace)
    ready = next(c for c in bad_pod.status.conditions if c.type == "Ready")
    assert ready.status == "False"
    if not cluster.external:
        # The pod itself answers; it is only the readiness gate that keeps traffic away.
        direct = fetch(f"http://{cluster.pod_address(bad_pod.status.pod_ip)}:8080/")
        assert direct.ok and direct.image == "demo/app:bad"


def _delete_one_pod_under_load(cluster: Cluster, namespace: str, url: str) -> Load:
    victim = cluster.pods(namespace, "app=web")[0].metadata.name
    with Load(url, workers=4) as load:
        # The data plane follows a newly ready pod a moment after the Deployment reports it available:
        # delete the victim only once it carries its share, or the race has nothing to race with.
        deadline = time.monotonic() + 15
        while sum(1 for a in list(load.answers) if a.pod == victim) < 20:
            assert time.monotonic() < deadline, f"the victim pod never took traffic: {load.summary()}"
            time.sleep(0.1)
        cluster.core.delete_namespaced_pod(victim, namespace)
        _settle(cluster, namespace, "app=web", 3)
    return load


def test_pod_deletion_with_prestop_longer_than_proxy_catch_up_loses_nothing(cluster: Cluster, namespace: str) -> None:
    # The app exits the moment SIGTERM comes; the preStop sleep alone keeps it serving until the
    # data plane has let go of it.
    url = _deploy_web(cluster, namespace, env={"SANDBOX_ON_SIGTERM": "exit"}, prestop_seconds=2, grace_seconds=10)

    load = _delete_one_pod_under_load(cluster, namespace, url)

    assert load.failures == [], load.summary()


def test_pod_deletion_without_prestop_can_lose_requests(cluster: Cluster, sandbox: Launcher, namespace: str) -> None:
    url = _deploy_web(cluster, namespace, env={"SANDBOX_ON_SIGTERM": "exit"})

    # The race a real cluster has: SIGTERM arrives before the proxy stops sending to the endpoint. One deletion
    # may slip between two requests on a busy machine (as on a real cluster); three in a row do not.
    runs = []
    for _ in range(3):
        load = _delete_one_pod_under_load(cluster, namespace, url)
        runs.append(load)
        if load.failures:
            break
    assert load.failures, f"no request failed: the sandbox hid the termination race ({[r.summary() for r in runs]})"
    # Only the race loses requests: once the data plane has let go of the pod, every request is answered.
    assert recovered_after_failures(load), load.summary()


def _first_of_run(load: Load, role: str, length: int, after: float, timeout: float = 30.0) -> float:
    """When the first of `length` answers in a row from `role` started, once such a run has come.

    Round-robin over a mix of old and new endpoints never yields a long run of one kind, so a run
    means the data plane has let go of the old ones."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: list[Answer] = []
        for answer in list(load.answers):
            if answer.at < after:
                continue
            run = [*run, answer] if answer.role == role else []
            if len(run) == length:
                return min(a.at for a in run)
        time.sleep(0.1)
    raise TimeoutError(f"no {length} answers in a row from role={role} within {timeout}s: {load.summary()}")


def test_selector_patch_moves_all_traffic_to_the_selected_pods(cluster: Cluster, namespace: str) -> None:
    blue = {"app": "web", "role": "blue"}
    green = {"app": "web", "role": "green"}
    cluster.apply(
        namespace,
        app.deployment("web-blue", "demo/app:v1", blue, replicas=2, external=cluster.external),
        app.deployment("web-green", "demo/app:v2", green, replicas=2, external=cluster.external),
        app.service("web", blue),
    )
    cluster.wait_deployment_available(namespace, "web-blue")
    cluster.wait_deployment_available(namespace, "web-green")
    url = cluster.service_url(namespace, "web")

    with Load(url, workers=2) as load:
        time.sleep(1.0)
        patched_at = time.monotonic()
        cluster.core.patch_namespaced_service(
            "web", namespace, {"spec": {"selector": green}}, _content_type="application/merge-patch+json"
        )
        # "Within seconds": a generous bound, so a loaded machine does not fail it, yet a stuck proxy does.
        switched_at = _first_of_run(load, "green", length=20, after=patched_at, timeout=10.0)
        time.sleep(1.0)

    assert load.failures == [], load.summary()
    # An answer from any other pod means the data plane reached something this Service never selected.
    strangers = [a for a in load.answers if a.role not in ("blue", "green")]
    assert strangers == [], strangers[:3]
    before = [a.role for a in load.answers if a.at < patched_at]
    assert before and set(before) == {"blue"}
    after = [a.role for a in load.answers if a.at >= switched_at]
    assert after and set(after) == {"green"}, "blue answered again after the switch"


def test_sandbox_down_leaves_no_process_or_listening_port(sandbox_bin: Path, tmp_path: Path) -> None:
    launcher = Launcher(tmp_path / "second")
    state = launcher.up(nodes=1, bin_dir=str(sandbox_bin))
    try:
        cluster = Cluster.connect(launcher.layout.kubeconfig, launcher, str(sandbox_bin / "kubectl"))
        namespace = cluster.create_namespace("t-down")
        cluster.apply(namespace, app.deployment("web", "demo/app:v1", WEB, replicas=2), app.service("web", WEB))
        cluster.wait_deployment_available(namespace, "web")
        url = cluster.service_url(namespace, "web")
        assert fetch(url).ok
        pod_ips = [cluster.pod_address(p.status.pod_ip) for p in cluster.pods(namespace)]
        ours = {port for port in state.ports.values()}
        before = listening()
        assert {p for _, p in before} >= ours
    finally:
        stopped = launcher.down()

    assert "node-agent" in stopped and "kube-apiserver" in stopped
    assert marked_processes(launcher.layout.root) == []
    after = listening()
    net = f"127.{state.network_octet}."
    assert not [s for s in after if s[1] in ours], "a control-plane port is still open"
    assert not [s for s in after if s[0].startswith(net)], "a pod or Service address is still open"
    if shutil.which("ip"):
        assert inventory(NetworkPlan(state.network_octet)).empty(), "a network namespace, link or route is left"
    assert not fetch(url, timeout=1).ok
    assert pod_ips


@pytest.fixture(scope="module")
def sandbox_bin(cluster: Cluster) -> Path:
    if cluster.sandbox is None:
        pytest.skip("tests the sandbox itself; PIPELINE_STEPS_E2E_KUBECONFIG names another cluster")
    state = SandboxState.load(cluster.sandbox.layout)
    assert state is not None
    return Path(state.bin_dir)
