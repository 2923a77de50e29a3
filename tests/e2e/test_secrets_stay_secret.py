"""Secrets never reach an output: the SMTP password, a Jenkins token, registry credentials, the kubeconfig's
bearer token. Known secrets are planted, a succeeding and several failing runs go through (as a GitHub step,
with every report asked for), and every byte they wrote is scanned."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest
import yaml

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.e2e.test_least_privilege import token_kubeconfig
from tests.support.release import Result, Workspace
from tests.support.smtp_server import PASSWORD, USERNAME, Certificates, RunningServer

V1, V2 = "registry.local/web:v1", "registry.local/web:v2"
JENKINS_TOKEN = "planted-jenkins-token-5f0c2a"
REGISTRY_PASSWORD = "planted-registry-password-77e1"
BOGUS_TOKEN = "planted-bogus-bearer-token-c3d4"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Outputs:
    """Every file a run may write, and what it printed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.printed: list[str] = []
        self.count = 0

    def flags(self) -> list[str]:
        self.count += 1
        return ["--report", str(self.root / f"report-{self.count}.json"),
                "--junit-xml", str(self.root / f"junit-{self.count}.xml")]  # fmt: skip

    def github_env(self) -> dict[str, str]:
        return {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(self.root / "github-output"),
            "GITHUB_STEP_SUMMARY": str(self.root / "github-summary.md"),
        }

    def keep(self, result: Result) -> Result:
        self.printed += [result.stdout, result.stderr]
        return result

    def everything(self, *more: Path) -> str:
        files = [p for root in (self.root, *more) for p in root.rglob("*") if p.is_file()]
        return "\n".join([*self.printed, *(p.read_text(errors="replace") for p in files)])


@pytest.fixture
def setting(cluster: Cluster, namespace: str, tmp_path: Path) -> tuple[Workspace, Outputs]:
    if cluster.external:
        pytest.skip("creates a ServiceAccount and RBAC objects; run on the sandbox")
    admin = Workspace.create(tmp_path / "admin", "bluegreen", cluster.kubeconfig, NAMESPACE=namespace)
    printed = admin.cli("rbac", "-c", str(admin.config), "--service-account", "ci")
    cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "ci"}})
    cluster.apply(namespace, *yaml.safe_load_all(printed.stdout))
    kubeconfig = token_kubeconfig(cluster, namespace, "ci", tmp_path / "ci-kubeconfig")
    auth_file = tmp_path / "auth.json"
    registry = f"127.0.0.1:{closed_port()}"
    basic = base64.b64encode(f"robot:{REGISTRY_PASSWORD}".encode()).decode()
    auth_file.write_text(json.dumps({"auths": {registry: {"auth": basic}}}))
    workspace = Workspace.create(
        tmp_path / "ci",
        "bluegreen",
        kubeconfig,
        NAMESPACE=namespace,
        SMTP_PASSWORD=PASSWORD,
        JENKINS_USER="release-bot",
        JENKINS_API_TOKEN=JENKINS_TOKEN,
        REGISTRY_AUTH_FILE=str(auth_file),
        PIPELINE_STEPS_API_RETRY_SECONDS="2",
    )
    workspace.env["PRIVATE_REGISTRY"] = registry
    outputs = Outputs(tmp_path / "outputs")
    outputs.root.mkdir()
    return workspace, outputs


def with_mail(workspace: Workspace, server: RunningServer, certificates: Certificates) -> None:
    config = yaml.safe_load(workspace.config.read_text())
    config["confirm"] = {
        "mode": "jenkins",
        "mail": {
            "host": "127.0.0.1",
            "port": server.port,
            "from": "ci@example.com",
            "to": "ops@example.com",
            "username": USERNAME,
            "password_env": "SMTP_PASSWORD",
            "ca_file": str(certificates.ca_file),
        },
    }
    workspace.config.write_text(yaml.safe_dump(config))


def test_no_output_of_a_good_or_a_failed_run_holds_a_secret(
    cluster: Cluster,
    namespace: str,
    setting: tuple[Workspace, Outputs],
    starttls_server: RunningServer,
    certificates: Certificates,
) -> None:
    workspace, outputs = setting
    token = yaml.safe_load(workspace.kubeconfig.read_text())["users"][0]["user"]["token"]
    with_mail(workspace, starttls_server, certificates)
    github = outputs.github_env()
    env = {**github, "PIPELINE_STEPS_RUN_ID": "build-1", "BUILD_URL": "https://jenkins.example.com/job/web/1/"}

    # A good release, as CI stages run it: staged and mailed, then the gate's side goes on from switch.
    staged = outputs.keep(workspace.run("--image", V1, "--to", "confirm", *outputs.flags(), **env))
    assert staged.code == ExitCode.AWAITING_APPROVAL, staged
    assert starttls_server.log.messages, "the approval e-mail went out (with the password, over STARTTLS)"
    done = outputs.keep(workspace.run("--from", "switch", *outputs.flags(), **env))
    assert done.code == ExitCode.OK, done

    # Failing ones: verify-prod fails after the switch; the registry cannot be reached with its credentials;
    # the SMTP server refuses the password; the API server refuses the token.
    failing = {**github, "CONFIRM_MODE": "auto"}
    undone = outputs.keep(
        workspace.run("--image", V2, "--confirm-mode", "auto", *outputs.flags(), PROD_BODY="never", **failing)
    )
    assert undone.code == ExitCode.ROLLED_BACK, undone
    private = f"{workspace.env['PRIVATE_REGISTRY']}/shop/web:v3"
    config = yaml.safe_load(workspace.config.read_text())
    config["image"]["resolve_digest"] = True
    workspace.config.write_text(yaml.safe_dump(config))
    unreachable = outputs.keep(workspace.run("--image", private, *outputs.flags(), **failing))
    assert unreachable.code == ExitCode.TEMPORARY, unreachable
    config["image"]["resolve_digest"] = False
    workspace.config.write_text(yaml.safe_dump(config))
    refused_mail = outputs.keep(
        workspace.run("--image", V2, *outputs.flags(), **{**env, "SMTP_PASSWORD": "wrong-" + PASSWORD})
    )
    assert refused_mail.code == ExitCode.FAILED, refused_mail
    bogus = workspace.path / "bogus-kubeconfig"
    kubeconfig = yaml.safe_load(workspace.kubeconfig.read_text())
    kubeconfig["users"][0]["user"]["token"] = BOGUS_TOKEN
    bogus.write_text(yaml.safe_dump(kubeconfig))
    unauthorized = outputs.keep(workspace.run("--image", V2, *outputs.flags(), KUBECONFIG=str(bogus), **failing))
    assert unauthorized.code == ExitCode.FAILED, unauthorized
    assert "401" in unauthorized.stdout + unauthorized.stderr

    written = outputs.everything(workspace.path / ".pipeline-steps")
    assert "pipeline-steps" in written and "verify-prod" in written  # the scan reads real outputs
    for secret in (PASSWORD, JENKINS_TOKEN, REGISTRY_PASSWORD, BOGUS_TOKEN, token, token[-20:]):
        assert secret not in written, f"a planted secret ({secret[:6]}...) reached an output"
