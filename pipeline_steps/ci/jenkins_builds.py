"""Starting a Jenkins job with parameters, following it through the queue, streaming its console.

jenkinsapi's ``Job.invoke``, ``QueueItem`` and ``Build.stream_logs`` cover the same ground; their endpoints
are called here through its requester instead: ``invoke`` hides the HTTP status in an exception's text
(so a 5xx could not be retried and a 4xx explained), jenkinsapi reads objects through ``api/python`` whose
fallback parser rewrites ``True``/``False``/``None`` inside strings (parameter names included), ``QueueItem``
has no notion of a cancelled item, and ``stream_logs`` neither checks statuses nor stops at a deadline.
Polling is inherent: Jenkins offers no way to watch a queue item or a console.
"""

from __future__ import annotations

import codecs
import dataclasses
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from pipeline_steps.ci.jenkins_auth import JenkinsAuth
from pipeline_steps.ci.jenkins_http import JenkinsConnection
from pipeline_steps.errors import CIError, ConfigError

_QUEUE_ITEM = re.compile(r"/queue/item/([0-9]+)/?$")
_CHARSET = re.compile(r"charset=\"?([^\";\s]+)", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """How a triggered build ended."""

    job_name: str
    number: int
    url: str
    result: str  #: SUCCESS, UNSTABLE, FAILURE, ABORTED or NOT_BUILT, as Jenkins reports it
    queue_url: str

    @property
    def succeeded(self) -> bool:
        return self.result == "SUCCESS"


def trigger_build(
    job_url_or_name: str,
    *,
    auth: JenkinsAuth,
    parameters: Mapping[str, str] | None = None,
    on_output: Callable[[str], None] | None = None,
    poll_interval: float = 1.0,
    timeout: float,
) -> BuildResult:
    """Start a job, wait for its build to end within ``timeout`` seconds, and report its result.

    ``on_output`` receives the console text in order as it grows (a failing build is a result, not an
    error); without it the console is not read. Exceptions raised by ``on_output`` propagate unchanged.
    """
    if poll_interval <= 0 or timeout <= 0:
        raise ConfigError(f"poll_interval and timeout must be positive, got {poll_interval} and {timeout}")
    deadline = time.monotonic() + timeout
    job_url, job_name = auth.job_location(job_url_or_name)
    values = dict(parameters or {})
    connection = JenkinsConnection(auth)

    job = connection.get_json(
        f"{job_url}/api/json",
        f"read job {job_name}",
        params={"tree": "property[parameterDefinitions[name]]"},
        not_found=f"Jenkins at {auth.host} has no job {job_name!r} ({job_url}/); a job in a folder is folder/job",
    )
    declared = _declared_parameters(job)
    _check_parameters(job_name, declared, values)
    # Jenkins refuses buildWithParameters for a job that declares no parameters, and /build ignores them.
    endpoint = "buildWithParameters" if declared is not None else "build"
    # A retried POST does not start a second build while the first waits in the queue: Jenkins merges them.
    response, _ = connection.post(
        f"{job_url}/{endpoint}",
        f"start job {job_name}",
        data=values,
        ok=(200, 201, 303),
        not_found=f"Jenkins at {auth.host} has no job {job_name!r} ({job_url}/)",
    )
    queue_url = _queue_url(auth, response, job_name)

    number = _wait_for_start(connection, queue_url, job_name, poll_interval, deadline, timeout)
    build_url = f"{job_url}/{number}"
    label = f"build #{number} of {job_name}"
    if on_output is not None:
        _stream_console(connection, build_url, label, on_output, poll_interval, deadline, timeout)
    result = _wait_for_result(connection, build_url, label, poll_interval, deadline, timeout)
    return BuildResult(job_name=job_name, number=number, url=f"{build_url}/", result=result, queue_url=f"{queue_url}/")


def _declared_parameters(job: Any) -> list[str] | None:
    """Names of the job's parameters; None if it is not parameterised."""
    properties = job.get("property") if isinstance(job, dict) else None
    for prop in properties or []:
        if isinstance(prop, dict) and "parameterDefinitions" in prop:
            return [str(item.get("name")) for item in prop["parameterDefinitions"] or []]
    return None


def _check_parameters(job_name: str, declared: list[str] | None, values: dict[str, str]) -> None:
    unknown = sorted(set(values) - set(declared or []))
    if unknown:
        # Jenkins silently drops undeclared parameters; a typo would release with a default instead.
        takes = ", ".join(declared) if declared else "no parameters"
        raise ConfigError(
            f"job {job_name!r} has no parameter {', '.join(unknown)}; it takes {takes}",
            field="parameters",
            hint="pass only the parameters the job declares (This project is parameterized)",
        )


def _queue_url(auth: JenkinsAuth, response: requests.Response, job_name: str) -> str:
    location = response.headers.get("Location", "")
    match = _QUEUE_ITEM.search(location)
    if not match:
        raise CIError(
            f"Jenkins accepted the start of job {job_name!r} but named no queue item (Location: {location or 'none'})",
            hint="Jenkins 1.519 or later answers with the queue item's URL",
        )
    # Rebuilt on the configured URL: Location carries Jenkins' own root URL, which may differ behind a proxy.
    return f"{auth.base_url}/queue/item/{match.group(1)}"


def _wait_for_start(
    connection: JenkinsConnection, queue_url: str, job_name: str, poll_interval: float, deadline: float, timeout: float
) -> int:
    while True:
        item = connection.get_json(
            f"{queue_url}/api/json",
            f"follow the queue item of job {job_name}",
            not_found=f"queue item {queue_url}/ of job {job_name!r} is gone (Jenkins forgets items minutes after)",
        )
        if not isinstance(item, dict):
            raise CIError(f"{queue_url}/api/json answered {type(item).__name__}, not a queue item")
        if item.get("cancelled"):
            raise CIError(
                f"the queued build of job {job_name!r} was cancelled before it started ({queue_url}/)",
                hint="someone cancelled it in the Jenkins build queue; start it again if it is still wanted",
            )
        executable = item.get("executable")
        if isinstance(executable, dict) and "number" in executable:
            return int(executable["number"])
        if time.monotonic() >= deadline:
            raise CIError(
                f"job {job_name!r} did not start within {timeout:g}s; it is still queued: {item.get('why') or '?'}",
                hint=f"free an executor or raise the timeout; the queue item is {queue_url}/",
            )
        _sleep(poll_interval, deadline)


def _stream_console(
    connection: JenkinsConnection,
    build_url: str,
    label: str,
    on_output: Callable[[str], None],
    poll_interval: float,
    deadline: float,
    timeout: float,
) -> None:
    offset = 0
    decoder: codecs.IncrementalDecoder | None = None
    while True:
        response = connection.get(
            f"{build_url}/logText/progressiveText",
            f"read the console of {label}",
            params={"start": offset},
            not_found=f"Jenkins has no console for {label} ({build_url}/)",
        )
        if decoder is None:
            # Offsets are bytes, so a character may be split between two reads: decode incrementally.
            decoder = codecs.getincrementaldecoder(_charset(response))(errors="replace")
        text = decoder.decode(response.content)
        if text:
            on_output(text)
        size = response.headers.get("X-Text-Size", "")
        if not size.isdigit():
            raise CIError(f"{build_url}/logText/progressiveText answered without X-Text-Size; not a Jenkins console")
        offset = int(size)
        if response.headers.get("X-More-Data", "").lower() != "true":
            tail = decoder.decode(b"", final=True)
            if tail:
                on_output(tail)
            return
        if time.monotonic() >= deadline:
            raise _still_running(label, build_url, timeout)
        _sleep(poll_interval, deadline)


def _wait_for_result(
    connection: JenkinsConnection, build_url: str, label: str, poll_interval: float, deadline: float, timeout: float
) -> str:
    while True:
        status = connection.get_json(
            f"{build_url}/api/json",
            f"read the result of {label}",
            params={"tree": "building,result"},
            not_found=f"Jenkins has no {label} ({build_url}/); was it deleted?",
        )
        if isinstance(status, dict) and not status.get("building", True) and status.get("result"):
            return str(status["result"])
        if time.monotonic() >= deadline:
            raise _still_running(label, build_url, timeout)
        _sleep(poll_interval, deadline)


def _still_running(label: str, build_url: str, timeout: float) -> CIError:
    return CIError(
        f"{label} did not finish within {timeout:g}s; it is still running at {build_url}/",
        hint="raise the timeout, or follow the build in Jenkins; it was not stopped",
    )


def _charset(response: requests.Response) -> str:
    # Not requests' guess: it assumes ISO-8859-1 for text/plain without a charset; Jenkins consoles are UTF-8.
    match = _CHARSET.search(response.headers.get("Content-Type", ""))
    try:
        return codecs.lookup(match.group(1)).name if match else "utf-8"
    except LookupError:
        return "utf-8"


def _sleep(poll_interval: float, deadline: float) -> None:
    time.sleep(max(0.0, min(poll_interval, deadline - time.monotonic())))
