"""A local HTTP server speaking the parts of the Jenkins JSON API the Jenkins client uses, for contract tests.

It answers as Jenkins' sources say Jenkins answers, for exactly the endpoints ``pipeline_steps.ci`` calls:
crumb issuer, job, build and queue item ``api/json``, ``buildWithParameters``, ``logText/progressiveText``,
``wfapi/pendingInputActions`` and ``input/<Id>/proceedEmpty|proceed|abort``. Passing against it shows the
client keeps that contract; it does not show compatibility with any real Jenkins.

Stricter than Jenkins where that makes a test able to fail: every request needs valid Basic auth, and every
POST a crumb bound to the session cookie and the user (Jenkins exempts API-token requests from crumbs).
Every request is recorded, so tests assert on methods, paths, credentials and crumbs as the server saw them.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import secrets
import ssl
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

HOST = "127.0.0.1"
USER = "deployer"
TOKEN = "11d0c0ffee0ddba11deadbeef0123456"  # the shape of a Jenkins API token
CRUMB_FIELD = "Jenkins-Crumb"
SESSION_COOKIE = "JSESSIONID.fake0001"
JENKINS_VERSION = "2.462.3"
CRUMB_REFUSED = "No valid crumb was included in the request"

WORKFLOW_JOB = "org.jenkinsci.plugins.workflow.job.WorkflowJob"
WORKFLOW_RUN = "org.jenkinsci.plugins.workflow.job.WorkflowRun"

Reply = tuple[int, dict[str, str], bytes]  #: status, headers, body


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  #: as sent, percent-encoded, without the query
    query: dict[str, list[str]]
    headers: dict[str, str]  #: lower-case names
    body: bytes

    @property
    def credentials(self) -> tuple[str, str] | None:
        """(user, token) from Basic auth as sent, valid or not."""
        header = self.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, token = base64.b64decode(header[6:]).decode(errors="replace").partition(":")
        return user, token

    @property
    def user(self) -> str | None:
        return self.credentials[0] if self.credentials else None

    @property
    def crumb(self) -> str | None:
        return self.headers.get(CRUMB_FIELD.lower())

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    @property
    def session(self) -> str | None:
        morsel = SimpleCookie(self.headers.get("cookie", "")).get(SESSION_COOKIE)
        return morsel.value if morsel else None


@dataclasses.dataclass
class FakeInput:
    """A paused `input` step. The id is kept as Jenkins keeps it: first letter capitalised."""

    id: str
    message: str = "Release to production?"
    parameters: tuple[str, ...] = ()
    decided_elsewhere_after_listing: bool = False  #: someone else decides it right after it is listed
    outcome: str | None = None  #: proceed | abort
    decided_by: str | None = None
    values: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.id = self.id[:1].upper() + self.id[1:]


@dataclasses.dataclass
class BuildPlan:
    """What a triggered build does: its console, one chunk more each time the build is looked at."""

    console: Sequence[str | bytes] = ("Started by user deployer\n", "Finished: SUCCESS\n")
    result: str = "SUCCESS"
    queue_polls: int = 1  #: reads of the queue item that show no executable yet
    cancelled: bool = False  #: the queue item is cancelled before it starts


@dataclasses.dataclass
class FakeBuild:
    job: str
    number: int
    plan: BuildPlan
    inputs: list[FakeInput] = dataclasses.field(default_factory=list)
    parameters: dict[str, str] = dataclasses.field(default_factory=dict)
    revealed: int = 0

    @property
    def chunks(self) -> list[bytes]:
        return [c.encode() if isinstance(c, str) else c for c in self.plan.console]

    @property
    def building(self) -> bool:
        return self.revealed < len(self.chunks) or any(i.outcome is None for i in self.inputs)

    @property
    def result(self) -> str | None:
        if self.building:
            return None
        return "ABORTED" if any(i.outcome == "abort" for i in self.inputs) else self.plan.result

    def advance(self) -> None:
        self.revealed = min(self.revealed + 1, len(self.chunks))


@dataclasses.dataclass
class FakeJob:
    name: str  #: full name, folder/app
    parameters: tuple[str, ...] | None = None  #: None: not parameterised
    plans: list[BuildPlan] = dataclasses.field(default_factory=list)  #: for the next triggered builds, in order
    builds: dict[int, FakeBuild] = dataclasses.field(default_factory=dict)
    next_number: int = 1


@dataclasses.dataclass
class QueueEntry:
    id: int
    job: FakeJob
    plan: BuildPlan
    parameters: dict[str, str]
    polls_left: int
    build: FakeBuild | None = None


@dataclasses.dataclass
class _Rule:
    method: str
    path: re.Pattern[str]
    times: int
    status: int = 0
    body: str = ""
    delay: float = 0.0


class FakeJenkins:
    """Start with ``with FakeJenkins() as jenkins:``; ``jenkins.url`` is its root URL."""

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        readers: Sequence[str] = (),
        csrf: bool = True,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.users = dict(users if users is not None else {USER: TOKEN})
        self.readers = set(readers)  #: users who may read but not build or decide inputs
        self.csrf = csrf
        self.wfapi_installed = True
        self.root_url: str | None = None  #: Jenkins' own idea of its URL, used in Location; None: the real one
        self.crumb_issuer_missing = 0  #: the crumb issuer answers 404 this many more times, crumbs still enforced
        self.jobs: dict[str, FakeJob] = {}
        self.queue: dict[int, QueueEntry] = {}
        self.lock = threading.RLock()
        self._requests: list[RecordedRequest] = []
        self._rules: list[_Rule] = []
        self._secret = secrets.token_hex(8)
        self._expire_after_issue = 0
        self._sessions: set[str] = set()
        self._next_queue_id = 41
        self._server = _Server((HOST, 0), _handler_for(self))
        if tls is not None:
            # The handshake happens in the connection's thread, so a client that refuses it blocks nobody.
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True, do_handshake_on_connect=False)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{HOST}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)

    def __enter__(self) -> FakeJenkins:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- set-up and inspection, for tests -----------------------------------------------------------------

    def add_job(
        self, name: str, *, parameters: Sequence[str] | None = None, plans: Sequence[BuildPlan] = ()
    ) -> FakeJob:
        job = FakeJob(name, tuple(parameters) if parameters is not None else None, list(plans))
        self.jobs[name] = job
        return job

    def add_build(
        self, job: str, number: int, *, inputs: Sequence[FakeInput] = (), plan: BuildPlan | None = None
    ) -> FakeBuild:
        owner = self.jobs.get(job) or self.add_job(job)
        build = FakeBuild(job, number, plan or BuildPlan(console=()), list(inputs))
        owner.builds[number] = build
        owner.next_number = max(owner.next_number, number + 1)
        return build

    def build_url(self, job: str, number: int) -> str:
        return f"{self._job_url(job)}{number}/"

    def fail(self, method: str, path: str, status: int, *, times: int = 1, body: str = "") -> None:
        """Answer the next ``times`` requests whose path matches the regex ``path`` with ``status``."""
        self._rules.append(_Rule(method, re.compile(path), times, status=status, body=body or f"HTTP ERROR {status}"))

    def delay(self, method: str, path: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` matching requests for ``seconds`` before answering them."""
        self._rules.append(_Rule(method, re.compile(path), times, delay=seconds))

    def expire_crumbs(self, *, after_next_issue: bool = False) -> None:
        """Invalidate every crumb issued so far, now or right after the next one is issued."""
        with self.lock:
            if after_next_issue:
                self._expire_after_issue += 1
            else:
                self._secret = secrets.token_hex(8)

    @property
    def connections(self) -> int:
        return self._server.accepted

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self._requests)

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path matches the regex ``path``."""
        return [r for r in self.requests if r.method == method and re.fullmatch(path, r.path)]

    # --- the server side ------------------------------------------------------------------------------------

    def _job_url(self, name: str) -> str:
        return self.url + "".join(f"/job/{quote(part, safe='')}" for part in name.split("/")) + "/"

    def _crumb(self, user: str | None, session: str) -> str:
        return hashlib.sha256(f"{self._secret}:{user}:{session}".encode()).hexdigest()[:32]

    def _record(self, request: RecordedRequest) -> None:
        with self.lock:
            self._requests.append(request)

    def _matching_rule(self, method: str, path: str) -> _Rule | None:
        with self.lock:
            for rule in self._rules:
                if rule.times > 0 and rule.method == method and rule.path.fullmatch(path):
                    rule.times -= 1
                    return rule
        return None

    def respond(self, request: RecordedRequest) -> Reply:
        """(status, headers, body) for one request; the handler only moves bytes."""
        rule = self._matching_rule(request.method, request.path)
        if rule and rule.delay:
            time.sleep(rule.delay)
        elif rule:
            return _html(rule.status, rule.body)
        user, refusal = self._authenticate(request)
        if refusal:
            return refusal
        segments = [unquote(s) for s in request.path.strip("/").split("/")] if request.path != "/" else []
        with self.lock:
            if segments == ["crumbIssuer", "api", "json"] and request.method == "GET":
                return self._issue_crumb(request, user)
            if request.method == "POST" and self.csrf:
                session = request.session
                if not request.crumb or session not in self._sessions or request.crumb != self._crumb(user, session):
                    return _html(403, CRUMB_REFUSED)
            if request.method == "POST" and user in self.readers:
                return _html(403, f"{user} is missing the Job/Build permission")
            if segments[:2] == ["queue", "item"] and segments[3:] == ["api", "json"]:
                return self._queue_item(int(segments[2]))
            return self._job_route(request, segments, user)

    def _authenticate(self, request: RecordedRequest) -> tuple[str | None, Reply | None]:
        if request.credentials is None:
            return None, _html(403, "Authentication required")
        name, token = request.credentials
        if self.users.get(name) != token:
            return None, _html(401, f"Invalid password/token for user: {name}")
        return name, None

    def _issue_crumb(self, request: RecordedRequest, user: str | None) -> Reply:
        if not self.csrf or self.crumb_issuer_missing > 0:
            self.crumb_issuer_missing = max(0, self.crumb_issuer_missing - 1)
            return _html(404, "Not Found")
        session = request.session if request.session in self._sessions else secrets.token_hex(12)
        self._sessions.add(session)
        crumb = self._crumb(user, session)
        if self._expire_after_issue:
            self._expire_after_issue -= 1
            self._secret = secrets.token_hex(8)
        status, headers, body = _json(
            {"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": crumb, "crumbRequestField": CRUMB_FIELD}
        )
        headers["Set-Cookie"] = f"{SESSION_COOKIE}={session}; Path=/; HttpOnly"
        return status, headers, body

    def _job_route(self, request: RecordedRequest, segments: list[str], user: str | None) -> Reply:
        names: list[str] = []
        while len(segments) >= 2 and segments[0] == "job":
            names.append(segments[1])
            segments = segments[2:]
        job = self.jobs.get("/".join(names)) if names else None
        if job is None:
            return _html(404, "Not Found")
        if segments == ["api", "json"]:
            return _json(self._job_json(job))
        if segments in (["buildWithParameters"], ["build"]):
            return self._trigger(request, job, segments[0])
        if not segments or not segments[0].isdigit() or int(segments[0]) not in job.builds:
            return _html(404, "Not Found")
        build, rest = job.builds[int(segments[0])], segments[1:]
        if rest == ["api", "json"]:
            build.advance()
            return _json(self._build_json(build))
        if rest == ["logText", "progressiveText"]:
            return self._console(request, build)
        if rest == ["wfapi", "pendingInputActions"]:
            return self._pending_inputs(build) if self.wfapi_installed else _html(404, "Not Found")
        if len(rest) == 3 and rest[0] == "input" and rest[2] in ("proceedEmpty", "proceed", "abort"):
            if request.method != "POST":
                return _html(405, "This URL requires POST")
            return self._decide(request, build, rest[1], rest[2], user)
        return _html(404, "Not Found")

    def _job_json(self, job: FakeJob) -> dict[str, Any]:
        props: list[dict[str, Any]] = []
        if job.parameters is not None:
            definitions = [{"_class": "hudson.model.StringParameterDefinition", "name": p} for p in job.parameters]
            props.append({"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": definitions})
        name, url = job.name.rsplit("/", 1)[-1], self._job_url(job.name)
        return {"_class": WORKFLOW_JOB, "name": name, "fullName": job.name, "url": url, "property": props}

    def _build_json(self, build: FakeBuild) -> dict[str, Any]:
        return {
            "_class": WORKFLOW_RUN,
            "number": build.number,
            "url": self.build_url(build.job, build.number),
            "building": build.building,
            "result": build.result,
        }

    def _trigger(self, request: RecordedRequest, job: FakeJob, endpoint: str) -> Reply:
        if request.method != "POST":
            return _html(405, "This URL requires POST")
        if (endpoint == "buildWithParameters") != (job.parameters is not None):
            return _html(
                400, f"{job.name} is not parameterized" if job.parameters is None else "Use buildWithParameters"
            )
        form = {**request.query, **request.form}
        # Jenkins keeps only declared parameters; the rest are dropped.
        values = {name: form[name][-1] for name in job.parameters or () if name in form}
        plan = job.plans.pop(0) if job.plans else BuildPlan()
        entry = QueueEntry(self._next_queue_id, job, plan, values, plan.queue_polls)
        self.queue[entry.id] = entry
        self._next_queue_id += 1
        return 201, {"Location": f"{self.root_url or self.url}/queue/item/{entry.id}/"}, b""

    def _queue_item(self, item_id: int) -> Reply:
        entry = self.queue.get(item_id)
        if entry is None:
            return _html(404, "Not Found")
        task = {"_class": WORKFLOW_JOB, "name": entry.job.name, "url": self._job_url(entry.job.name)}
        item: dict[str, Any] = {"id": entry.id, "task": task}
        if entry.plan.cancelled:
            return _json({**item, "_class": "hudson.model.Queue$LeftItem", "cancelled": True, "executable": None})
        if entry.polls_left > 0:
            entry.polls_left -= 1
            why = "Waiting for next available executor"
            return _json({**item, "_class": "hudson.model.Queue$BuildableItem", "why": why, "buildable": True})
        if entry.build is None:
            entry.build = FakeBuild(entry.job.name, entry.job.next_number, entry.plan, parameters=entry.parameters)
            entry.job.builds[entry.build.number] = entry.build
            entry.job.next_number += 1
        executable = {
            "_class": WORKFLOW_RUN,
            "number": entry.build.number,
            "url": self.build_url(entry.job.name, entry.build.number),
        }
        return _json({**item, "_class": "hudson.model.Queue$LeftItem", "cancelled": False, "executable": executable})

    def _console(self, request: RecordedRequest, build: FakeBuild) -> Reply:
        build.advance()
        text = b"".join(build.chunks[: build.revealed])
        start = int(request.query.get("start", ["0"])[-1])
        headers = {"Content-Type": "text/plain;charset=UTF-8", "X-Text-Size": str(len(text))}
        if build.building:
            headers["X-More-Data"] = "true"
        return 200, headers, text[start:]

    def _pending_inputs(self, build: FakeBuild) -> Reply:
        run = urlsplit(self.build_url(build.job, build.number)).path
        pending = [i for i in build.inputs if i.outcome is None]
        listing = [
            {
                "id": i.id,
                "proceedText": "Proceed",
                "message": i.message,
                "inputs": [{"type": "StringParameterDefinition", "name": p, "description": ""} for p in i.parameters],
                "proceedUrl": f"{run}wfapi/inputSubmit?inputId={i.id}",
                "abortUrl": f"{run}input/{i.id}/abort",
                "redirectApprovalUrl": f"{run}input/",
            }
            for i in pending
        ]
        for i in pending:
            if i.decided_elsewhere_after_listing:
                i.outcome, i.decided_by = "proceed", "someone-else"
        return _json(listing)

    def _decide(
        self, request: RecordedRequest, build: FakeBuild, input_id: str, action: str, user: str | None
    ) -> Reply:
        # Jenkins looks the id up exactly, and a decided input is no longer there.
        found = next((i for i in build.inputs if i.id == input_id and i.outcome is None), None)
        if found is None:
            return _html(404, "Not Found")
        values: list[dict[str, Any]] = []
        if action == "proceed":
            submitted = json.loads(request.form.get("json", ["{}"])[-1]).get("parameter", [])
            values = submitted if isinstance(submitted, list) else [submitted]
            unknown = [v.get("name") for v in values if v.get("name") not in found.parameters]
            if unknown:
                return _html(500, f"java.lang.IllegalArgumentException: No such parameter definition: {unknown[0]}")
        found.outcome = "abort" if action == "abort" else "proceed"
        found.decided_by, found.values = user, values
        return 200, {}, b""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    accepted = 0  #: TCP connections, TLS handshake or not

    def process_request(self, request: Any, client_address: Any) -> None:
        self.accepted += 1
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up (timeout test) or refuses the certificate (TLS test) is expected here.
        if not isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def _json(data: Any) -> Reply:
    return 200, {"Content-Type": "application/json;charset=utf-8"}, json.dumps(data).encode()


def _html(status: int, message: str) -> Reply:
    page = message if message.startswith("<") else f"<html><body><h2>{message}</h2></body></html>"
    return status, {"Content-Type": "text/html;charset=utf-8"}, page.encode()


def _handler_for(jenkins: FakeJenkins) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms wait between them

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = RecordedRequest(method, parts.path, parse_qs(parts.query), headers, body)
            jenkins._record(request)
            status, reply_headers, payload = jenkins.respond(request)
            with suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                for name, value in {"X-Jenkins": JENKINS_VERSION, **reply_headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # the base class names it so
            pass

    return Handler
