"""Releases that wait for a person (confirm mode `wait`), decided from another process on the real cluster.

The release runs in the background as CI would run it; `pipeline-steps approve|reject` runs as a second,
separate process, as the approver would from their own terminal. What counts is what users of the public
endpoint see: the new release after an approval, the old one, untouched, after a rejection or a timeout.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from pipeline_steps import approvals
from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.release import Result, Workspace
from tests.support.smtp_server import PASSWORD, USERNAME, ServerMode, make_certificates, smtp_server
from tests.support.traffic import served_images, settled_images

V1, V2 = "registry.local/web:v1", "registry.local/web:v2"
RECORD = approvals.record_name("web")
#: Deploying and checking the staged role before confirm starts waiting, on a busy machine.
REACH_CONFIRM_S = 240.0


@dataclass
class Background:
    """A `pipeline-steps run` in a process of its own; its output goes to files, so it never blocks on a pipe."""

    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def finish(self, timeout: float = 240.0) -> Result:
        code = self.process.wait(timeout)
        return Result(code, self.stdout.read_text(), self.stderr.read_text())

    def output(self) -> str:
        return f"--- stdout\n{self.stdout.read_text()}\n--- stderr\n{self.stderr.read_text()}"


@pytest.fixture
def workspace(cluster: Cluster, namespace: str, tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path, "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)


@pytest.fixture
def start_release(workspace: Workspace, tmp_path: Path) -> Iterator[Callable[..., Background]]:
    """Starts `pipeline-steps run --image ... --run-id ...` in the background, with the environment
    Workspace.cli gives; ends (by its pid) any such process a failing test leaves running."""
    started: list[Background] = []

    def start(image: str, run_id: str, **env: str) -> Background:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PIPELINE_STEPS_", "GITHUB_", "BUILD_"))}
        full_env.update({"KUBECONFIG": str(workspace.kubeconfig), **workspace.env, **env})
        out, err = tmp_path / f"{run_id}.stdout", tmp_path / f"{run_id}.stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "pipeline_steps.cli", "run", "-c", str(workspace.config), "--output", "json",
                 "--image", image, "--run-id", run_id],
                cwd=workspace.path, env=full_env, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        background = Background(process, out, err)
        started.append(background)
        return background

    yield start
    for background in started:
        if background.process.poll() is None:
            background.process.kill()
            background.process.wait(30)


# -- what the cluster and the endpoint say ----------------------------------------------------------------


def selector(cluster: Cluster, namespace: str) -> dict[str, str]:
    return dict(cluster.core.read_namespaced_service("web", namespace).spec.selector)


def service_version(cluster: Cluster, namespace: str) -> str:
    return str(cluster.core.read_namespaced_service("web", namespace).metadata.resource_version)


def record(cluster: Cluster, namespace: str) -> dict[str, str]:
    """The approval record's annotations; empty while there is none."""
    try:
        found = cluster.core.read_namespaced_config_map(RECORD, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return {}
        raise
    return dict(found.metadata.annotations or {})


def wait_until_awaiting(cluster: Cluster, namespace: str, run_id: str, release: Background) -> dict[str, str]:
    """Until confirm has opened its request for `run_id`; fails early with the run's output if it ended."""
    deadline = time.monotonic() + REACH_CONFIRM_S
    while time.monotonic() < deadline:
        annotations = record(cluster, namespace)
        if annotations.get(approvals.RUN_ID) == run_id and annotations.get(approvals.DECISION) == approvals.AWAITING:
            return annotations
        if release.process.poll() is not None:
            pytest.fail(f"the release ended (exit {release.process.returncode}) before waiting:\n{release.output()}")
        time.sleep(0.25)
    pytest.fail(f"run {run_id} did not start waiting for a decision within {REACH_CONFIRM_S:.0f}s:\n{release.output()}")


def decide(workspace: Workspace, verb: str, run_id: str, *args: str) -> Result:
    return workspace.cli(verb, "-c", str(workspace.config), "--run-id", run_id, "--output", "json", *args)


def add_to_confirm(workspace: Workspace, lines: str) -> None:
    """Extend the `confirm:` section of the workspace's copy of the test app's config."""
    config = workspace.config.read_text()
    assert "\nconfirm:\n" in config
    workspace.config.write_text(config.replace("\nconfirm:\n", "\nconfirm:\n" + lines, 1))


def first_release(cluster: Cluster, namespace: str, workspace: Workspace) -> str:
    """V1 public on role blue, released without a gate; the public URL."""
    first = workspace.run("--image", V1)
    assert first.code == ExitCode.OK, first
    assert selector(cluster, namespace)["role"] == "blue"
    public = cluster.service_url(namespace, "web")
    assert served_images(public) == {V1}
    return public


def assert_untouched(cluster: Cluster, namespace: str, public: str, version_before: str) -> None:
    assert selector(cluster, namespace)["role"] == "blue"
    assert service_version(cluster, namespace) == version_before, "the public Service was changed"
    assert served_images(public, 30) == {V1}


# -- the tests ----------------------------------------------------------------------------------------------


def test_approve_from_another_process_releases(
    cluster: Cluster, namespace: str, workspace: Workspace, start_release: Callable[..., Background]
) -> None:
    public = first_release(cluster, namespace, workspace)

    release = start_release(V2, "rel-approve", CONFIRM_MODE="wait", CONFIRM_TIMEOUT="300s")
    wait_until_awaiting(cluster, namespace, "rel-approve", release)
    # Waiting: v2 is staged on green and reachable on its test endpoint; the public endpoint still serves v1.
    assert selector(cluster, namespace)["role"] == "blue"
    assert served_images(public) == {V1}
    assert served_images(cluster.service_url(namespace, "web-test-green")) == {V2}

    approved = decide(workspace, "approve", "rel-approve", "--approver", "alice", "--comment", "checked staging")
    assert approved.code == ExitCode.OK, approved
    assert approved.json()["decision"] == "approved" and approved.json()["by"] == "alice"

    result = release.finish()
    assert result.code == ExitCode.OK, result
    statuses = result.statuses()
    assert statuses["confirm"] == "succeeded" and statuses["switch"] == "succeeded", statuses
    assert result.json()["facts"]["approval"].startswith("approved by alice at ")
    assert selector(cluster, namespace)["role"] == "green"
    assert settled_images(public) == {V2}
    annotations = record(cluster, namespace)
    assert annotations[approvals.RUN_ID] == "rel-approve"
    assert annotations[approvals.DECISION] == "approved"
    assert annotations[approvals.DECIDED_BY] == "alice"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", annotations[approvals.DECIDED_AT])
    assert annotations[approvals.COMMENT] == "checked staging"


def test_reject_stops_the_release_with_traffic_untouched(
    cluster: Cluster, namespace: str, workspace: Workspace, start_release: Callable[..., Background]
) -> None:
    public = first_release(cluster, namespace, workspace)
    version_before = service_version(cluster, namespace)

    release = start_release(V2, "rel-reject", CONFIRM_MODE="wait", CONFIRM_TIMEOUT="300s")
    wait_until_awaiting(cluster, namespace, "rel-reject", release)
    rejected = decide(workspace, "reject", "rel-reject", "--approver", "bob", "--comment", "error rate too high")
    assert rejected.code == ExitCode.OK, rejected

    result = release.finish()
    assert result.code == ExitCode.REJECTED, result
    assert result.code == 5, "the documented exit code of a rejected release"
    statuses = result.statuses()
    assert statuses["confirm"] == "rejected"
    assert "switch" not in statuses
    assert "rejected by bob: error rate too high" in result.stdout
    assert_untouched(cluster, namespace, public, version_before)
    assert record(cluster, namespace)[approvals.DECISION] == "rejected"

    # A switch stage restarted for the same run does not override the decision.
    restarted = workspace.step("switch", PIPELINE_STEPS_RUN_ID="rel-reject")
    assert restarted.code == ExitCode.REJECTED, restarted
    assert "was rejected at confirm" in restarted.stderr
    assert_untouched(cluster, namespace, public, version_before)


def test_timeout_rejects_by_default_with_traffic_untouched(
    cluster: Cluster, namespace: str, workspace: Workspace, start_release: Callable[..., Background]
) -> None:
    public = first_release(cluster, namespace, workspace)
    version_before = service_version(cluster, namespace)

    release = start_release(V2, "rel-timeout", CONFIRM_MODE="wait", CONFIRM_TIMEOUT="4s")
    result = release.finish()

    assert result.code == ExitCode.REJECTED, result
    assert result.statuses()["confirm"] == "rejected"
    assert "switch" not in result.statuses()
    assert "no decision in 4s: rejected" in result.stdout
    assert_untouched(cluster, namespace, public, version_before)
    annotations = record(cluster, namespace)
    assert annotations[approvals.DECISION] == "rejected"
    assert annotations[approvals.DECIDED_BY] == approvals.TIMEOUT_DECIDER
    # An approval after the run gave up is refused: it would change nothing.
    late = decide(workspace, "approve", "rel-timeout", "--approver", "alice")
    assert late.code == ExitCode.USAGE, late
    assert "run rel-timeout was already rejected by pipeline-steps (confirm.timeout)" in late.stderr
    assert_untouched(cluster, namespace, public, version_before)


def test_a_ci_abort_closes_the_request_and_gives_back_the_lock(
    cluster: Cluster, namespace: str, workspace: Workspace, start_release: Callable[..., Background]
) -> None:
    """Jenkins and GitHub abort a build with SIGTERM: the waiting run closes its request and frees the app."""
    public = first_release(cluster, namespace, workspace)
    version_before = service_version(cluster, namespace)

    release = start_release(V2, "rel-abort", CONFIRM_MODE="wait", CONFIRM_TIMEOUT="300s")
    wait_until_awaiting(cluster, namespace, "rel-abort", release)
    leases = cluster.coordination.list_namespaced_lease(namespace).items
    assert [lease.spec.holder_identity for lease in leases] == ["rel-abort"]
    release.process.send_signal(signal.SIGTERM)
    result = release.finish(timeout=60)

    assert result.code == ExitCode.FAILED, result
    assert "interrupted" in result.stderr
    assert record(cluster, namespace)[approvals.DECISION] == approvals.CANCELLED
    assert cluster.coordination.list_namespaced_lease(namespace).items == []
    assert_untouched(cluster, namespace, public, version_before)
    late = decide(workspace, "approve", "rel-abort", "--approver", "alice")
    assert late.code == ExitCode.USAGE, late


def test_wrong_run_and_unlisted_approver_are_refused(
    cluster: Cluster, namespace: str, workspace: Workspace, start_release: Callable[..., Background]
) -> None:
    add_to_confirm(workspace, "  approvers: [alice, bob]\n")
    public = first_release(cluster, namespace, workspace)
    version_before = service_version(cluster, namespace)

    release = start_release(V2, "rel-guarded", CONFIRM_MODE="wait", CONFIRM_TIMEOUT="300s")
    wait_until_awaiting(cluster, namespace, "rel-guarded", release)

    other_run = decide(workspace, "approve", "rel-999", "--approver", "alice")
    assert other_run.code == ExitCode.USAGE, other_run
    assert "the release waiting for a decision is run rel-guarded, not rel-999" in other_run.stderr
    stranger = decide(workspace, "approve", "rel-guarded", "--approver", "mallory")
    assert stranger.code == ExitCode.USAGE, stranger
    assert "'mallory' may not decide releases of web" in stranger.stderr
    assert "allowed: alice, bob" in stranger.stderr
    # Both refusals left the request open and the release waiting.
    assert record(cluster, namespace)[approvals.DECISION] == approvals.AWAITING
    assert release.process.poll() is None, release.output()

    # An approval written around `approve` (straight onto the record) by someone not listed is not honoured.
    cluster.core.patch_namespaced_config_map(
        RECORD,
        namespace,
        {"metadata": {"annotations": {approvals.DECISION: "approved", approvals.DECIDED_BY: "mallory"}}},
        _content_type="application/merge-patch+json",
    )
    result = release.finish()
    assert result.code == ExitCode.REJECTED, result
    assert "approved by mallory, who is not in confirm.approvers (alice, bob): not honoured" in result.stdout
    assert "switch" not in result.statuses()
    assert_untouched(cluster, namespace, public, version_before)


def test_approval_mail_names_the_staged_role_and_its_test_url(
    cluster: Cluster,
    namespace: str,
    workspace: Workspace,
    start_release: Callable[..., Background],
    tmp_path: Path,
) -> None:
    certificates = make_certificates(tmp_path)
    with smtp_server(ServerMode.STARTTLS, certificates) as server:
        add_to_confirm(
            workspace,
            "  mail:\n"
            f"    host: {server.host}\n"
            f"    port: {server.port}\n"
            "    from: ci@example.com\n"
            "    to: [ops@example.com]\n"
            f"    username: {USERNAME}\n"
            "    password_env: SMTP_PASSWORD\n"
            f"    ca_file: {certificates.ca_file}\n",
        )
        public = first_release(cluster, namespace, workspace)

        release = start_release(V2, "rel-mail", CONFIRM_MODE="wait", CONFIRM_TIMEOUT="300s", SMTP_PASSWORD=PASSWORD)
        wait_until_awaiting(cluster, namespace, "rel-mail", release)
        message = wait_for_message(server.log.messages, release)

    assert "green" in str(message["Subject"]) and "rel-mail" in str(message["Subject"])
    plain = message.get_body(preferencelist=("plain",))
    assert plain is not None
    text = str(plain.get_content())
    test_url = cluster.service_url(namespace, "web-test-green")
    assert "Public after approval: green" in text
    assert test_url in text
    assert V1 in text and V2 in text
    assert "PASS  staged answers" in text
    # The approver runs the command the mail gives, as it stands.
    [command] = [line.split("run:", 1)[1] for line in text.splitlines() if "pipeline-steps approve" in line]
    argv = shlex.split(command)
    assert argv[:2] == ["pipeline-steps", "approve"] and "--namespace" in argv, argv
    approved = workspace.cli(*argv[1:], "--approver", "alice")
    assert approved.code == ExitCode.OK, approved

    result = release.finish()
    assert result.code == ExitCode.OK, result
    assert selector(cluster, namespace)["role"] == "green"
    assert settled_images(public) == {V2}


def wait_for_message(messages: list[EmailMessage], release: Background, timeout: float = 60.0) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while not messages and time.monotonic() < deadline and release.process.poll() is None:
        time.sleep(0.1)
    if not messages:
        pytest.fail(f"no approval e-mail arrived:\n{release.output()}")
    return messages[0]
