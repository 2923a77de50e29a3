"""Bad input, refused: one table of cases, each a working copy of a test app with one bad change (to
pipeline.yaml, a manifest, a flag, the environment or the kubeconfig), run as a user runs the CLI.

Each case checks the documented exit code, that the message names the file, the line, the field and the fix,
and that the cluster did not change: every object of the namespace keeps its resourceVersion, and a namespace
that did not exist still does not. The namespace the cases run against holds both test apps, released once for
the module; every case tries to release their next version, so a check that is skipped would show as a change.
"""

from __future__ import annotations

import base64
import dataclasses
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, Literal

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from pipeline_steps.outcome import ExitCode
from pipeline_steps_sandbox.cluster import Cluster
from tests.support.app import app_configmap
from tests.support.release import Result, Workspace

RELEASED = {"bluegreen": "registry.local/web:v1", "rolling": "registry.local/roll:v1"}
NEXT = {"bluegreen": "registry.local/web:v2", "rolling": "registry.local/roll:v2"}
#: The account the 403 case authenticates as: it exists, and may do nothing.
NOBODY = "nobody"
#: Stands for the namespace in a case's expected text.
NS = "<ns>"

Snapshot = dict[tuple[str, str, str], str]

# -- what a case changes ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Edit:
    """A working copy of a test app, and what its run is given: where a case makes its one bad change."""

    deploy: Path  #: the app's directory: pipeline.yaml and its manifests
    cluster: Cluster
    namespace: str
    scratch: Path
    args: list[str] = dataclasses.field(default_factory=list)
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    kubeconfig: Path | None = None
    #: What the message must say besides the case's own text, known only once the change is made.
    says: list[str] = dataclasses.field(default_factory=list)

    def replace(self, file: str, old: str, new: str) -> None:
        path = self.deploy / file
        text = path.read_text()
        assert old in text, f"{file} has no {old!r}: the test app changed under this case"
        path.write_text(text.replace(old, new, 1))

    def append(self, file: str, text: str) -> None:
        path = self.deploy / file
        path.write_text(path.read_text() + text)

    def write(self, file: str, text: str | bytes) -> None:
        path = self.deploy / file
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)

    def flags(self, *args: str) -> None:
        self.args += args

    def environ(self, **env: str) -> None:
        self.env.update(env)

    def use_kubeconfig(self, text: str, name: str = "kubeconfig") -> None:
        self.kubeconfig = self.scratch / name
        self.kubeconfig.write_text(text)

    def token_kubeconfig(self, token: str, server: str | None = None) -> None:
        """A kubeconfig for the sandbox's API server (or `server`) that authenticates with a bearer token."""
        admin = yaml.safe_load(self.cluster.kubeconfig.read_text())
        cluster = admin["clusters"][0]["cluster"]
        ca = (
            cluster.get("certificate-authority-data")
            or base64.b64encode(Path(cluster["certificate-authority"]).read_bytes()).decode()
        )
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "c", "cluster": {"server": server or cluster["server"], "certificate-authority-data": ca}}
            ],
            "users": [{"name": "ci", "user": {"token": token}}],
            "contexts": [{"name": "ci", "context": {"cluster": "c", "user": "ci"}}],
            "current-context": "ci",
        }
        self.use_kubeconfig(yaml.safe_dump(config))


def without_readiness_probe(edit: Edit) -> None:
    edit.replace(
        "app.yaml",
        "          readinessProbe:\n            httpGet: {path: /healthz, port: http}\n"
        "            periodSeconds: 1\n            failureThreshold: 1\n",
        "",
    )


def hard_coded_role(value: str) -> Callable[[Edit], None]:
    def change(edit: Edit) -> None:
        for labels in ("matchLabels", "labels"):
            edit.replace(
                "app.yaml",
                f'{labels}: {{app: web, role: "${{TARGET_ROLE}}"}}',
                f"{labels}: {{app: web, role: {value}}}",
            )

    return change


def without_role_label(edit: Edit) -> None:
    edit.replace("app.yaml", 'matchLabels: {app: web, role: "${TARGET_ROLE}"}', "matchLabels: {app: web}")
    edit.replace("app.yaml", 'labels: {app: web, role: "${TARGET_ROLE}"}', "labels: {app: web}")


def with_mail_password(edit: Edit) -> None:
    mail = "  mail: {host: smtp.example, password: hunter2, from: a@b.example, to: [c@d.example]}\n"
    edit.replace("pipeline.yaml", "  timeout: ${CONFIRM_TIMEOUT:-60s}\n", "  timeout: ${CONFIRM_TIMEOUT:-60s}\n" + mail)


def planned_with_yaml_in_a_value(edit: Edit) -> None:
    edit.environ(GREETING="a: b # c {d} [e] --- 'f'")
    edit.flags("--dry-run")


def second_file_with_the_configmap(edit: Edit) -> None:
    edit.write("more.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: roll-settings\ndata: {a: b}\n")
    edit.replace("pipeline.yaml", "manifests: [app.yaml]", "manifests: [app.yaml, more.yaml]")


def sandbox_token(edit: Edit) -> None:
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    account = edit.cluster.core.create_namespaced_service_account_token(NOBODY, edit.namespace, request)
    edit.token_kubeconfig(account.status.token)


def unreachable_api_server(edit: Edit) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    edit.token_kubeconfig("unused", server=f"https://127.0.0.1:{port}")
    edit.environ(PIPELINE_STEPS_API_RETRY_SECONDS="1")  # the bound of the retries, kept short
    edit.says.append(f"port={port}")


STATEFUL_SET = """---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db-${TARGET_ROLE}
spec:
  serviceName: db
  replicas: 1
  selector: {matchLabels: {app: db, role: "${TARGET_ROLE}"}}
  template:
    metadata: {labels: {app: db, role: "${TARGET_ROLE}"}}
    spec:
      containers:
        - name: db
          image: registry.local/db:1
          readinessProbe: {httpGet: {path: /healthz, port: 8080}}
"""

SECRET_DOCUMENT = 'x"\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: evil}\nstringData: {a: b}\nz: "y'

# -- the table ------------------------------------------------------------------------------------------------


Change = Callable[[Edit], object]


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    app: Literal["bluegreen", "rolling"]
    change: Change
    code: ExitCode
    #: Text the user sees (stderr and stdout), each piece in turn: where, which field, what is wrong, the fix.
    says: tuple[str, ...]
    #: "released": the module's namespace, both apps live; "missing": a namespace that does not exist.
    where: Literal["released", "missing"] = "released"
    command: tuple[str, ...] = ("run",)
    #: The image the run releases: the app's next version; None for verbs that take none.
    image: str | None = "next"


def case(name: str, app: Literal["bluegreen", "rolling"], change: Change, *says: str, **kw: Any) -> Case:
    return Case(name, app, change, kw.pop("code", ExitCode.USAGE), says, **kw)


BG: Final = "bluegreen"
ROLL: Final = "rolling"

CASES = [
    # -- pipeline.yaml: YAML, types, keys ------------------------------------------------------------------------
    case("malformed YAML", BG, lambda e: e.replace("pipeline.yaml", "strategy: bluegreen", "strategy: [bluegreen"),
         "pipeline.yaml:5: not valid YAML: expected ',' or ']'", "flow sequence on line 4", "check the indentation"),
    case("a tab for indentation", BG, lambda e: e.replace("pipeline.yaml", "app: web\n", "app: web\n\textra: 1\n"),
         "pipeline.yaml:3: not valid YAML", "cannot start any token", "check the indentation"),
    case("a key given twice", BG, lambda e: e.append("pipeline.yaml", "app: other\n"),
         "pipeline.yaml:34: not valid YAML: duplicate key 'app'", "remove one of them"),
    case("two documents", BG, lambda e: e.append("pipeline.yaml", "---\napp: other\n"),
         "pipeline.yaml:34: not valid YAML", "another document", "remove the '---'"),
    case("a word for a number", BG, lambda e: e.replace("pipeline.yaml", "retries: 30", "retries: many"),
         "pipeline.yaml:14: verify.staged[0].retries: must be int, not str 'many'"),
    case("text for a flag", BG, lambda e: e.replace("pipeline.yaml", "resolve_digest: false", "resolve_digest: 'no'"),
         "pipeline.yaml:7: image.resolve_digest: must be bool", "write true or false"),
    case("a mapping for a list", BG,
         lambda e: e.replace("pipeline.yaml", "manifests: [app.yaml]", "manifests: {app.yaml: 1}"),
         "pipeline.yaml:5: manifests: must be a string or a list of strings"),
    case("an unknown key", BG,
         lambda e: e.replace("pipeline.yaml", "strategy: bluegreen", "strategy: bluegreen\nstrategie: rolling"),
         "pipeline.yaml:5: strategie: is not a known setting", "did you mean `strategy`?"),
    case("an unknown nested key", BG, lambda e: e.replace("pipeline.yaml", "public_service: web", "public_servic: web"),
         "pipeline.yaml:9: bluegreen.public_servic: is not a known setting", "did you mean `public_service`?"),
    # -- ${VAR} ------------------------------------------------------------------------------------------------
    case("an unset variable in pipeline.yaml", BG,
         lambda e: e.replace("pipeline.yaml", "${CONFIRM_TIMEOUT:-60s}", "${CONFIRM_TIMEOUT}"),
         "pipeline.yaml:27: ${CONFIRM_TIMEOUT} is not set", "--set CONFIRM_TIMEOUT=..."),
    case("an unset variable in a manifest", BG, lambda e: e.replace("app.yaml", "replicas: 2", "replicas: ${REPLICAS}"),
         "app.yaml:6: ${REPLICAS} is not set", "--set REPLICAS=..."),
    case("a malformed reference", BG,
         lambda e: e.replace("pipeline.yaml", "${SWITCH_TIMEOUT:-30s}", "${SWITCH TIMEOUT}"), "pipeline.yaml:33:",
         "only ${NAME} and ${NAME:-default} are", "write ${NAME} or ${NAME:-default}"),
    case("a value adding a key to pipeline.yaml", BG, lambda e: e.environ(CONFIRM_MODE="auto\n  approvers: [mallory]"),
         "pipeline.yaml:26: the value of ${CONFIRM_MODE} would change the structure", "adds keys", "keep line breaks"),
    case("a value adding a document to pipeline.yaml", BG, lambda e: e.environ(POST_CLEAN="keep\n---\napp: evil"),
         "pipeline.yaml:29:", "the value of ${POST_CLEAN} breaks it", "keep line breaks"),
    case("a value adding a key to a manifest", ROLL, lambda e: e.flags("--set", 'GREETING=hi"\n  evil: "1'),
         "app.yaml:48: the value of ${GREETING} would change the structure", "adds keys", "keep line breaks"),
    case("a value adding a document to a manifest", ROLL, lambda e: e.environ(GREETING=SECRET_DOCUMENT),
         "app.yaml:48: the value of ${GREETING} would change the structure", "starts a YAML document"),
    case("a value adding a list item to a manifest", BG,
         lambda e: e.environ(APP_READY='true"}\n            - {name: EVIL, value: "x'),
         "app.yaml:21: the value of ${APP_READY} would change the structure", "adds keys or items"),
    case("an image flag holding YAML", ROLL, lambda e: None, "--image / PIPELINE_STEPS_IMAGE: invalid image reference",
         "write it as [registry[:port]/]repository", image="registry.local/roll:v2\n          command: [sh]"),
    case("YAML syntax in a value stays one plain value", ROLL, planned_with_yaml_in_a_value,
         "update ConfigMap/roll-settings", "greeting: 'a: b # c {d} [e] --- ''f'''", code=ExitCode.OK),
    # -- flags and the environment ------------------------------------------------------------------------------
    case("--only with --from", BG, lambda e: e.flags("--only", "deploy", "--from", "check-env"),
         "--only: --only cannot be combined with --from or --to", "give either --only or a range"),
    case("an unknown step", BG, lambda e: e.flags("--only", "deplyo"), "argument --only: invalid choice: 'deplyo'",
         "choose from"),
    case("an unknown step to run alone", BG, lambda e: None, "argument name: invalid choice: 'swich'",
         command=("step", "swich")),
    case("--from after --to", BG, lambda e: e.flags("--from", "switch", "--to", "deploy"),
         "--from switch comes after --to deploy", "the order is pre-clean, prepare-image"),
    case("--set without '='", BG, lambda e: e.flags("--set", "GREETING"), "--set: --set 'GREETING' is not VAR=VALUE",
         "e.g. --set VERSION=1.2.3"),
    case("--set of a name that is not one", BG, lambda e: e.flags("--set", "1ST=a"), "--set '1ST=a' is not VAR=VALUE"),
    case("an unknown confirm mode flag", BG, lambda e: e.flags("--confirm-mode", "maybe"),
         "--confirm-mode / PIPELINE_STEPS_CONFIRM_MODE: 'maybe' is not one of auto, prompt, jenkins, github, wait"),
    case("an unknown post-clean policy in the environment", BG, lambda e: e.environ(PIPELINE_STEPS_POST_CLEAN="shred"),
         "--post-clean / PIPELINE_STEPS_POST_CLEAN: 'shred' is not one of keep, hot-backup, scale-down"),
    case("a namespace flag that is no name", BG, lambda e: e.flags("--namespace", "Bad_NS"),
         "--namespace / PIPELINE_STEPS_NAMESPACE: 'Bad_NS' is not a valid namespace name", "lower-case letters"),
    case("an unknown output format", BG, lambda e: e.flags("--output", "yaml"),
         "argument --output: invalid choice: 'yaml'"),
    # -- pipeline.yaml: values ----------------------------------------------------------------------------------
    case("an unknown strategy", BG, lambda e: e.replace("pipeline.yaml", "strategy: bluegreen", "strategy: canary"),
         "pipeline.yaml:4: strategy: is 'canary'; choose one of: bluegreen, rolling"),
    case("an unknown confirm mode", BG, lambda e: e.environ(CONFIRM_MODE="maybe"),
         "pipeline.yaml:26: confirm.mode: is 'maybe'; choose one of: auto, prompt"),
    case("an unknown post-clean policy", BG, lambda e: e.environ(POST_CLEAN="delete"),
         "pipeline.yaml:29: post_clean.policy: is 'delete'; choose one of: keep, hot-backup, scale-down"),
    case("a duration that is a word", BG, lambda e: e.environ(SWITCH_TIMEOUT="soon"),
         "pipeline.yaml:33: timeouts.switch: 'soon' is not a duration", 'write e.g. 30, "30s", "5m", "1h"'),
    case("a negative duration", BG, lambda e: e.environ(SCALE_DOWN_DELAY="-1"),
         "pipeline.yaml:30: post_clean.scale_down_delay: must not be negative, got -1"),
    case("negative retries", ROLL, lambda e: e.environ(PROD_RETRIES="-3"),
         "pipeline.yaml:15: verify.prod[0].successes: needs 1 <= successes (3) <= retries (-3)"),
    case("zero successes", BG, lambda e: e.replace("pipeline.yaml", "successes: 3", "successes: 0"),
         "pipeline.yaml:16: verify.staged[0].successes: needs 1 <= successes (0) <= retries (30)"),
    case("no manifests", BG, lambda e: e.replace("pipeline.yaml", "manifests: [app.yaml]", "manifests: []"),
         "pipeline.yaml:5: manifests: is required", "list the manifest files or globs"),
    case("a glob matching no file", BG,
         lambda e: e.replace("pipeline.yaml", "manifests: [app.yaml]", "manifests: [k8s/*.yaml]"),
         "manifests: 'k8s/*.yaml' matches no file in", "relative to the directory of pipeline.yaml"),
    case("a manifest file that is not there", BG,
         lambda e: e.replace("pipeline.yaml", "manifests: [app.yaml]", "manifests: [ap.yaml]"),
         "manifests: 'ap.yaml' does not exist in", "check the path"),
    case("two roles of one name", BG,
         lambda e: e.replace("pipeline.yaml", "public_service: web", "public_service: web\n  roles: [blue, blue]"),
         "pipeline.yaml:10: bluegreen.roles: must be two different values", "e.g. [blue, green]"),
    case("a public Service that is nowhere", BG,
         lambda e: e.replace("pipeline.yaml", "public_service: web", "public_service: wbe"),
         "bluegreen.public_service: Service wbe is neither in the cluster nor in the manifests; did you mean web?"),
    case("a check URL that is not one", ROLL,
         lambda e: e.replace("pipeline.yaml", "http: {path: /,", "http: {url: 'htp//x',"),
         "pipeline.yaml:12: verify.prod[0].http.url: 'htp//x' is not an http or https URL", "write http(s)://HOST"),
    case("a check path with a space", BG, lambda e: e.replace("pipeline.yaml", "http: {path: /,", "http: {path: /a b,"),
         "pipeline.yaml:13: verify.staged[0].http.path: '/a b' has spaces", "percent-encode them"),
    case("an HTTP status that is none", BG,
         lambda e: e.replace("pipeline.yaml", "expect_status: 200}", "expect_status: 2000}"),
         "pipeline.yaml:13: verify.staged[0].http.expect_status: 2000 is not an HTTP status"),
    case("a regular expression that is none", BG, lambda e: e.environ(PROD_BODY="(unclosed"),
         "pipeline.yaml:19: verify.prod[0].http.body_regex: is not a valid regular expression"),
    case("a password written into the file", BG, with_mail_password,
         "pipeline.yaml:28: confirm.mail.password: a password must not be written into the config file",
         "password_env"),
    case("an image with neither tag nor digest", ROLL, lambda e: None,
         "--image / PIPELINE_STEPS_IMAGE: image 'registry.local/roll' has neither tag nor digest", "add a tag",
         image="registry.local/roll"),
    case("an image reference that is none", ROLL, lambda e: None,
         "--image / PIPELINE_STEPS_IMAGE: invalid image reference 'registry.local/Roll:v2'",
         "repository component 'Roll'", image="registry.local/Roll:v2"),
    # -- manifests --------------------------------------------------------------------------------------------
    case("a manifest image with neither tag nor digest", ROLL,
         lambda e: e.replace("app.yaml", "image: ${IMAGE}", "image: registry.local/roll"),
         "app.yaml:1 (Deployment/roll): spec.template.spec.containers[0].image: image 'registry.local/roll' has "
         "neither tag nor digest",
         "add a tag"),
    case("a manifest that is a list", ROLL,
         lambda e: e.write("app.yaml", "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: x}\n"),
         "app.yaml:1: document 0 is a list, not a mapping", "a manifest is a mapping with apiVersion, kind"),
    case("malformed YAML in a manifest", ROLL,
         lambda e: e.replace("app.yaml", "selector: {app: roll}", "selector: {app: roll"), "app.yaml:41: invalid YAML",
         "check the indentation"),
    case("a manifest without apiVersion", ROLL,
         lambda e: e.replace("app.yaml", "apiVersion: v1\nkind: ConfigMap", "kind: ConfigMap"),
         "app.yaml:43: apiVersion: is required", "every manifest needs apiVersion, kind and metadata.name"),
    case("one object in two files", ROLL, second_file_with_the_configmap,
         "more.yaml:1: ConfigMap/roll-settings is defined twice: at app.yaml:43 and at more.yaml:1",
         "remove one of them"),
    case("a Deployment selecting other pods than its own", ROLL,
         lambda e: e.replace("app.yaml", "matchLabels: {app: roll}", "matchLabels: {app: rol}"),
         "app.yaml:1 (Deployment/roll): spec.selector: selector {app: rol} does not select the pod template's labels",
         "make spec.selector.matchLabels a subset"),
    case("a Service selector matching nothing", BG,
         lambda e: e.replace("app.yaml", "selector: {app: web,", "selector: {app: wbe,"),
         "app.yaml:32 (Service/web): spec.selector: selector {app: wbe, role: blue}", "matches the pods of no workload",
         "make spec.selector a subset"),
    case("a blue/green Deployment without readiness probe", BG, without_readiness_probe,
         "app.yaml:1 (Deployment/web-blue): spec.template.spec.containers[0].readinessProbe: container 'app' has no "
         "readinessProbe",
         "add a readinessProbe", "allow_missing_readiness: true"),
    case("a role label value not in roles", BG, hard_coded_role("red"),
         "app.yaml:1 (Deployment/web-blue): spec.template.metadata.labels.role: the pod template's 'role' label is "
         "'red', not one of bluegreen.roles (blue, green)",
         "write `role: ${TARGET_ROLE}`"),
    case("a role label that is always one role", BG, hard_coded_role("blue"),
         "app.yaml:1 (Deployment/web-green): spec.template.metadata.labels.role: the pod template's 'role' label is "
         "'blue', but this Deployment is rendered for role 'green'",
         "write `role: ${TARGET_ROLE}`"),
    case("a pod template without the role label", BG, without_role_label,
         "app.yaml:1 (Deployment/web-blue): spec.template.metadata.labels: the pod template has no 'role' label",
         "add `role: ${TARGET_ROLE}`"),
    case("a StatefulSet in blue/green", BG, lambda e: e.append("app.yaml", STATEFUL_SET),
         "app.yaml:50 (StatefulSet/db-blue): kind: blue/green waits for the rollout of Deployments only",
         "make it a Deployment"),
    case("maxSurge and maxUnavailable both 0", ROLL,
         lambda e: e.replace("app.yaml", "maxSurge: 1, maxUnavailable: 0", "maxSurge: 0, maxUnavailable: 0"),
         "app.yaml:1 (Deployment/roll): spec.strategy.rollingUpdate.maxUnavailable: maxUnavailable and maxSurge are "
         "both 0",
         "set maxSurge to 1 or more"),
    case("an object of another namespace", ROLL,
         lambda e: e.replace("app.yaml", "name: roll-settings", "name: roll-settings\n  namespace: elsewhere"),
         f"app.yaml:43 (ConfigMap/roll-settings): metadata.namespace: is 'elsewhere', but the release goes to "
         f"namespace '{NS}'",
         "remove metadata.namespace"),
    case("a kind the cluster does not serve", ROLL,
         lambda e: e.append("app.yaml", "---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"),
         "app.yaml:50 (Widget/w): the cluster does not serve Widget in example.com/v1", "kubectl api-resources"),
    case("a value the API server refuses", ROLL, lambda e: e.replace("app.yaml", "replicas: 3", "replicas: -1"),
         "app.yaml:1 (Deployment/roll): the API server refuses Deployment/roll: 422",
         "spec.replicas: Invalid value: -1", "fix the manifest"),
    case("a field the API server does not know", ROLL,
         lambda e: e.replace("app.yaml", "  replicas: 3", "  replicas: 3\n  replica: 3"),
         "app.yaml:1 (Deployment/roll): the API server refuses Deployment/roll",
         ".spec.replica: field not declared in schema", "fix the manifest"),
    case("a manifest that is not text", ROLL, lambda e: e.write("app.yaml", b"\xff\xfe\x00binary"),
         "app.yaml: is not UTF-8 text"),
    # -- cluster credentials and the API server -----------------------------------------------------------------
    case("a kubeconfig that is not YAML", ROLL,
         lambda e: e.use_kubeconfig("apiVersion: v1\nclusters: [\n", "broken-kubeconfig"),
         "broken-kubeconfig:3: cannot load cluster credentials: not valid YAML"),
    case("a kubeconfig of the wrong shape", ROLL, lambda e: e.use_kubeconfig("just some text\n"),
         "kubeconfig: cannot load cluster credentials: not a valid kubeconfig"),
    case("a kubeconfig whose server is no URL", ROLL, lambda e: e.token_kubeconfig("t", server="not a url"),
         "clusters[].cluster.server: the cluster's server 'not a url' is not a URL", "https://HOST:PORT"),
    case("a kubeconfig that is not there", ROLL, lambda e: e.flags("--kubeconfig", str(e.scratch / "nowhere")),
         "nowhere: cannot load cluster credentials", "pass --kubeconfig PATH"),
    case("an unknown context", ROLL, lambda e: e.flags("--context", "nope"), "cannot load cluster credentials", "nope",
         "pass --kubeconfig PATH (and --context NAME)"),
    case("an unreachable API server", ROLL, unreachable_api_server, "cannot reach the API server",
         "is the cluster up and reachable?", code=ExitCode.TEMPORARY),
    case("credentials the API server does not accept (401)", ROLL, lambda e: e.token_kubeconfig("not-a-token"),
         "401 Unauthorized", "check the kubeconfig's credentials", code=ExitCode.FAILED),
    case("an identity without permissions (403)", ROLL, sandbox_token, "403", "is forbidden",
         f"system:serviceaccount:{NS}:{NOBODY}", "RBAC permissions", code=ExitCode.FAILED),
    # -- a namespace that does not exist ------------------------------------------------------------------------
    case("a plan for a namespace that does not exist", ROLL, lambda e: e.flags("--dry-run"), f"create Namespace/{NS}",
         code=ExitCode.OK, where="missing"),
    case("a refused release into a namespace that does not exist", ROLL,
         lambda e: e.replace("app.yaml", "replicas: 3", "replicas: -1"),
         "app.yaml:1 (Deployment/roll): the API server refuses Deployment/roll: 422", where="missing"),
    case("a refused blue/green release into a namespace that does not exist", BG, without_readiness_probe,
         "app.yaml:1 (Deployment/web-blue): spec.template.spec.containers[0].readinessProbe", where="missing"),
    case("status of a namespace that does not exist", BG, lambda e: None, "active_role: null", "rollout: not deployed",
         code=ExitCode.OK, where="missing", command=("status",), image=None),
    case("rollback in a namespace that does not exist", BG, lambda e: None,
         "Service web does not exist or selects no role", code=ExitCode.FAILED, where="missing", command=("rollback",),
         image=None),
]  # fmt: skip


# -- the cluster: a released namespace, and what "unchanged" means ---------------------------------------------


def snapshot(cluster: Cluster, namespace: str) -> Snapshot:
    """Every object of the namespace and its resourceVersion; events and metrics aside (they report, they
    are not state: pod metrics come and go with every sample)."""
    dynamic = DynamicClient(cluster.api)
    found: Snapshot = {}
    for resource in dynamic.resources.search(namespaced=True):
        if "list" not in (resource.verbs or []) or "/" in resource.name:
            continue
        if resource.kind == "Event" or resource.kind.endswith("List") or resource.group == "metrics.k8s.io":
            continue
        for item in resource.get(namespace=namespace).items:
            found[(resource.group_version, resource.kind, item.metadata.name)] = item.metadata.resourceVersion
    return found


def settled(cluster: Cluster, namespace: str, bound: float = 60.0) -> Snapshot:
    """The namespace once its controllers are done with the release (two looks a second apart agree)."""
    deadline = time.monotonic() + bound
    last = snapshot(cluster, namespace)
    while time.monotonic() < deadline:
        time.sleep(1)
        now = snapshot(cluster, namespace)
        if now == last:
            return now
        last = now
    raise AssertionError(f"namespace {namespace} still changing after {bound:.0f}s")


def namespace_absent(cluster: Cluster, name: str, bound: float = 60.0) -> bool:
    """The namespace does not exist (one being deleted is waited for, within `bound`)."""
    deadline = time.monotonic() + bound
    while True:
        try:
            found = cluster.core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        if found.status.phase != "Terminating" or time.monotonic() > deadline:
            return False
        time.sleep(0.5)


@pytest.fixture(scope="module")
def released(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A namespace with both test apps released once, and an account that may do nothing in it."""
    namespace = cluster.create_namespace("t-bad-input")
    try:
        if cluster.external:
            cluster.apply(namespace, app_configmap())
        cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": NOBODY}})
        for app, image in RELEASED.items():
            workspace = Workspace.create(tmp_path_factory.mktemp(app), app, cluster.kubeconfig, NAMESPACE=namespace)
            first = workspace.run("--image", image)
            assert first.code == ExitCode.OK, first
        settled(cluster, namespace)
        yield namespace
    finally:
        cluster.delete_namespace(namespace)


def run_case(workspace: Workspace, test: Case, edit: Edit) -> Result:
    args = [*test.command, "-c", str(workspace.config)]
    if test.image:
        args += ["--image", NEXT[test.app] if test.image == "next" else test.image]
    env = dict(edit.env)
    if edit.kubeconfig is not None:
        env["KUBECONFIG"] = str(edit.kubeconfig)
    return workspace.cli(*args, *edit.args, **env)


@pytest.mark.parametrize("test", CASES, ids=[test.name for test in CASES])
def test_bad_input_is_refused_with_a_message_that_says_where_and_how_to_fix_it(
    cluster: Cluster, released: str, tmp_path: Path, test: Case
) -> None:
    namespace = released if test.where == "released" else f"t-missing-{uuid.uuid4().hex[:6]}"
    workspace = Workspace.create(tmp_path, test.app, cluster.kubeconfig, NAMESPACE=namespace)
    edit = Edit(workspace.path / "deploy", cluster, namespace, tmp_path)
    test.change(edit)
    before = snapshot(cluster, released)

    result = run_case(workspace, test, edit)

    seen = result.stderr + result.stdout
    assert result.code == test.code, result
    for text in [*test.says, *edit.says]:
        assert text.replace(NS, namespace) in seen, f"{text!r} not said:\n{result}"
    assert "Traceback" not in seen and "internal error" not in seen, result
    assert snapshot(cluster, released) == before, f"the cluster changed:\n{result}"
    if test.where == "missing":
        assert namespace_absent(cluster, namespace), f"namespace {namespace} was left behind:\n{result}"
