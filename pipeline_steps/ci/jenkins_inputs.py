"""Deciding a paused Pipeline `input` step of a Jenkins build: approve (proceed) or reject (abort).

The endpoints are the ones jenkinsapi's ``Build.get_pending_input_actions``, ``proceed_input`` and
``abort_input`` call. They are called here through its requester instead, because those methods hide
the HTTP status in an exception's text (so "already decided" could not be told from "not allowed"),
cannot send input parameters, and need a ``Build`` object whose construction reads the job and the
build through ``api/python`` first.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pipeline_steps.ci.jenkins_auth import JenkinsAuth
from pipeline_steps.ci.jenkins_http import JenkinsConnection, reason_of
from pipeline_steps.errors import CIError, ConfigError

WFAPI_MISSING_HINT = "install the Pipeline: Stage View / pipeline-rest-api plugin, which serves wfapi/ on builds"


class InputOutcome(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclasses.dataclass(frozen=True)
class InputDecision:
    """What was decided on which input, as Jenkins spells the input's id."""

    build_url: str
    input_id: str  #: Jenkins' spelling: the pipeline's `id`, first letter capitalised
    outcome: InputOutcome
    message: str  #: the prompt the input step showed
    user: str | None  #: who decided (None: anonymous)
    parameters: dict[str, str | bool] = dataclasses.field(default_factory=dict)  #: values sent with an approval


def approve_input(
    build_url: str,
    input_id: str,
    *,
    auth: JenkinsAuth,
    parameters: Mapping[str, str | bool] | None = None,
) -> InputDecision:
    """Approve a pending input of a build; ``parameters`` fill the input's parameters (none: proceed as is)."""
    return _decide(build_url, input_id, auth, InputOutcome.APPROVED, dict(parameters or {}))


def reject_input(build_url: str, input_id: str, *, auth: JenkinsAuth) -> InputDecision:
    """Reject (abort) a pending input of a build; the build ends ABORTED."""
    return _decide(build_url, input_id, auth, InputOutcome.REJECTED, {})


def _decide(
    build_url: str, input_id: str, auth: JenkinsAuth, outcome: InputOutcome, parameters: dict[str, str | bool]
) -> InputDecision:
    job_url, job_name, number = auth.build_location(build_url)
    if not input_id.strip():
        raise ConfigError("no input id given", field="input_id", hint="pass the `id:` of the pipeline's input step")
    build = f"{job_url}/{number}"
    label = f"build #{number} of {job_name}"
    connection = JenkinsConnection(auth)

    status = connection.get_json(
        f"{build}/api/json",
        f"read {label}",
        params={"tree": "building,result"},
        not_found=f"Jenkins at {auth.host} has no {label} ({build}/)",
    )
    pending = connection.get_json(
        f"{build}/wfapi/pendingInputActions",
        f"list the pending inputs of {label}",
        not_found=f"Jenkins at {auth.host} does not serve wfapi/ for {label}; {WFAPI_MISSING_HINT}",
    )
    if not isinstance(pending, list):
        raise CIError(f"{build}/wfapi/pendingInputActions answered {type(pending).__name__}, not a list")
    action = _find_input(pending, input_id, label, status)
    jenkins_id = str(action["id"])
    if parameters:
        _check_parameters(action, parameters, jenkins_id)

    verb = {InputOutcome.APPROVED: "approve", InputOutcome.REJECTED: "reject"}[outcome]
    what = f"{verb} input {jenkins_id!r} of {label}"
    base = f"{build}/input/{quote(jenkins_id, safe='')}"
    if outcome is InputOutcome.REJECTED:
        url, form = f"{base}/abort", None
    elif parameters:
        # The form the input page submits: a `json` field holding {"parameter": [{"name", "value"}...]}.
        values = [{"name": name, "value": value} for name, value in parameters.items()]
        url, form = f"{base}/proceed", {"json": json.dumps({"parameter": values})}
    else:
        url, form = f"{base}/proceedEmpty", None
    response, attempts = connection.post(url, what, data=form, ok=(200, 302, 303), handled=(400, 404))
    if response.status_code in (400, 404):
        _raise_not_decided(response.status_code, response.text, what, build, attempts)
    return InputDecision(
        build_url=f"{build}/",
        input_id=jenkins_id,
        outcome=outcome,
        message=str(action.get("message") or ""),
        user=auth.user,
        parameters=parameters,
    )


def _find_input(pending: list[Any], input_id: str, label: str, status: Any) -> dict[str, Any]:
    actions = [action for action in pending if isinstance(action, dict) and "id" in action]
    # Jenkins capitalises the first letter of an input's `id`, so the id in the Jenkinsfile differs in case.
    wanted = input_id.strip()
    exact = [action for action in actions if action["id"] == wanted]
    matches = exact or [action for action in actions if str(action["id"]).casefold() == wanted.casefold()]
    if len(matches) == 1:
        return matches[0]
    ids = ", ".join(repr(str(action["id"])) for action in actions) or "none"
    if matches:
        raise CIError(f"input id {wanted!r} matches several pending inputs of {label}: {ids}; pass the exact id")
    result = status.get("result") if isinstance(status, dict) else None
    if isinstance(status, dict) and not status.get("building", True):
        raise CIError(
            f"{label} has finished ({result or 'no result'}) and waits for no input; {wanted!r} cannot be decided"
        )
    raise CIError(
        f"{label} has no pending input {wanted!r}; pending inputs: {ids}",
        hint="the id is the `id:` of the pipeline's input step; it may have been decided already, "
        "or the build has not reached it yet",
    )


def _check_parameters(action: dict[str, Any], parameters: dict[str, str | bool], jenkins_id: str) -> None:
    declared = [str(item.get("name")) for item in action.get("inputs") or [] if isinstance(item, dict)]
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        takes = ", ".join(declared) if declared else "no parameters"
        raise ConfigError(
            f"input {jenkins_id!r} has no parameter {', '.join(unknown)}; it takes {takes}",
            field="parameters",
            hint="pass only the parameters the input step declares",
        )


def _raise_not_decided(status: int, text: str, what: str, build: str, attempts: int) -> None:
    already = status == 404 or "already" in text
    if not already:
        raise CIError(f"Jenkins refused to {what} ({status}: {reason_of(text)})")
    if attempts > 1:
        raise CIError(
            f"could not {what}: an earlier try failed, and the retry found the input already decided "
            "(quite possibly by that earlier try)",
            hint=f"check the build's console at {build}/console",
        )
    raise CIError(
        f"could not {what}: it was decided by someone else while this request was on its way ({status})",
        hint=f"see who decided it in the build's console at {build}/console",
    )
