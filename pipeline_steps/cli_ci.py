"""`pipeline-steps jenkins approve|reject|trigger`: decide a build's pending input, start a release job."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Mapping
from typing import Any

from pipeline_steps.errors import ConfigError
from pipeline_steps.outcome import exit_code_for_jenkins


def add_parsers(sub: Any) -> None:
    jenkins = sub.add_parser("jenkins", help="Jenkins: decide a pending input, trigger a release job")
    verbs = jenkins.add_subparsers(dest="jenkins_command", required=True)
    for name, text in (("approve", "proceed a build's pending input"), ("reject", "abort a build's pending input")):
        verb = verbs.add_parser(name, help=text)
        verb.add_argument("--build", required=True, help="the build's URL, e.g. https://ci/job/release/42/")
        verb.add_argument("--input-id", default="ReleaseApproval", help="the input step's id (any case)")
        if name == "approve":
            verb.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="input parameter")
        _connection_flags(verb)
    trigger = verbs.add_parser("trigger", help="start a job, stream its console, exit with its result")
    trigger.add_argument("--job", required=True, help="job name (folder/job) or URL")
    trigger.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="build parameter")
    trigger.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the build to end")
    trigger.add_argument("--poll-interval", type=float, default=1.0, help="seconds between looks at queue and build")
    _connection_flags(trigger)


def _connection_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jenkins-url", help="controller URL (env JENKINS_URL, which Jenkins sets in its builds)")
    parser.add_argument("--ca-bundle", help="CA bundle for the controller's certificate")
    parser.add_argument("--output", choices=("text", "json"), default="text")


def _params(items: list[str]) -> dict[str, str]:
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--param {item!r} is not NAME=VALUE", field="--param")
        values[name] = value
    return values


def _base_url(args: argparse.Namespace, env: Mapping[str, str]) -> str | None:
    # Never guessed from --build/--job: credentials go only to the controller named on purpose.
    return str(args.jenkins_url) if args.jenkins_url else env.get("JENKINS_URL")


def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from pipeline_steps.ci import jenkins  # noqa: PLC0415

    auth = jenkins.JenkinsAuth.from_env(_base_url(args, env), ca_bundle=args.ca_bundle, env=env)
    result: Any
    if args.jenkins_command == "approve":
        result = jenkins.approve_input(args.build, args.input_id, auth=auth, parameters=_params(args.param))
    elif args.jenkins_command == "reject":
        result = jenkins.reject_input(args.build, args.input_id, auth=auth)
    else:
        result = jenkins.trigger_build(
            args.job,
            auth=auth,
            parameters=_params(args.param),
            on_output=lambda text: print(text, end="", file=sys.stderr, flush=True),
            timeout=args.timeout,
            poll_interval=args.poll_interval,
        )
    import json  # noqa: PLC0415  (only this verb prints JSON; --help stays lean)

    data = dataclasses.asdict(result)
    if args.output == "json":
        print(json.dumps(data, indent=2, default=str))
    else:
        print(" ".join(f"{key}={value}" for key, value in data.items()))
    return int(exit_code_for_jenkins(getattr(result, "succeeded", True)))
