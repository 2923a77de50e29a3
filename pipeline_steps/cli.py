"""The `pipeline-steps` command line: the only place that prints, reads the terminal and exits."""

from __future__ import annotations

import argparse
import datetime
import functools
import getpass
import os
import select
import signal
import sys
import threading
from collections.abc import Mapping, Sequence

from pipeline_steps import cli_output
from pipeline_steps.errors import ConfigError, PipelineError
from pipeline_steps.outcome import ExitCode
from pipeline_steps.report import StepReport
from pipeline_steps.step_names import STEP_NAMES


def _add_release_flags(parser: argparse.ArgumentParser, *, steps: bool) -> None:
    parser.add_argument("-c", "--config", help="pipeline.yaml (env PIPELINE_STEPS_CONFIG; default ./pipeline.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="VAR=VALUE", help="set a ${VAR} (repeatable)")
    parser.add_argument("--namespace", help="override the config's namespace (env PIPELINE_STEPS_NAMESPACE)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument("--state", help="state file (env PIPELINE_STEPS_STATE; default .pipeline-steps/state/APP.json)")
    parser.add_argument("--run-id", help="run id (env PIPELINE_STEPS_RUN_ID, BUILD_TAG, GITHUB_RUN_ID)")
    parser.add_argument("--output", choices=("text", "json"), default="text", help="result format on stdout")
    parser.add_argument("--dry-run", action="store_true", help="plan against the cluster; change nothing")
    parser.add_argument("--report", metavar="PATH", help="write the JSON run report here")
    parser.add_argument("--junit-xml", metavar="PATH", help="write JUnit XML of steps and checks here")
    if steps:
        parser.add_argument("--image", help="the image to release (env PIPELINE_STEPS_IMAGE)")
        parser.add_argument("--yes", action="store_true", help="approve the confirm step without asking")
        parser.add_argument("--confirm-mode", help="override confirm.mode (env PIPELINE_STEPS_CONFIRM_MODE)")
        parser.add_argument("--post-clean", help="override post_clean.policy (env PIPELINE_STEPS_POST_CLEAN)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipeline-steps",
        description="Zero-downtime Kubernetes release steps.",
        epilog="exit codes: 0 ok, 1 failed, 2 usage or config error, 3 rolled back, 4 awaiting approval, 5 rejected",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the release steps in order")
    _add_release_flags(run, steps=True)
    run.add_argument("--from", dest="first", choices=STEP_NAMES, help="first step to run")
    run.add_argument("--to", dest="last", choices=STEP_NAMES, help="last step to run")
    run.add_argument("--only", action="append", default=[], choices=STEP_NAMES, help="run only this step")
    step = sub.add_parser("step", help="run one step, chaining through the state file (one CI stage)")
    step.add_argument("name", choices=STEP_NAMES)
    _add_release_flags(step, steps=True)
    for name, text in (("rollback", "put the previous release back in public"), ("status", "show both roles")):
        command = sub.add_parser(name, help=text)
        _add_release_flags(command, steps=False)
    unlock = sub.add_parser(
        "unlock", help="give back the app's release lock held by this run (--run-id), e.g. after a CI gate said no"
    )
    _add_release_flags(unlock, steps=False)
    unlock.add_argument("--force", action="store_true", help="remove the lock whoever holds it (a run known dead)")
    for name in ("approve", "reject"):
        command = sub.add_parser(name, help=f"{name} a release waiting in confirm mode `wait`")
        _add_release_flags(command, steps=False)
        command.add_argument("--approver", help="who decides (default: $USER)")
        command.add_argument("--comment", default="", help="why")
    from pipeline_steps import cli_ci  # noqa: PLC0415

    cli_ci.add_parsers(sub)
    # The sandbox is loaded only for its own verbs; release code never imports it.
    from pipeline_steps.sandbox import cli as sandbox_cli  # noqa: PLC0415

    sandbox_cli.add_parser(sub)
    return parser


def parse_sets(items: Sequence[str]) -> dict[str, str]:
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise ConfigError(f"--set {item!r} is not VAR=VALUE", field="--set", hint="e.g. --set VERSION=1.2.3")
        values[name] = value
    return values


def resolve_run_id(explicit: str | None, env: Mapping[str, str]) -> str | None:
    """A run id given by the user or by the CI system, which stays the same across a run's stages."""
    if explicit:
        return explicit
    for key in ("PIPELINE_STEPS_RUN_ID", "BUILD_TAG"):
        if env.get(key):
            return env[key]
    if env.get("GITHUB_RUN_ID"):
        return f"gh-{env['GITHUB_RUN_ID']}-{env.get('GITHUB_RUN_ATTEMPT', '1')}"
    return None


def new_run_id(app: str) -> str:
    return f"{app}-{datetime.datetime.now(datetime.UTC).strftime('%Y%m%d-%H%M%S')}"


def _terminal_prompt(question: str, *, timeout: float | None = None) -> bool:
    """y/N on the terminal; TimeoutError when nobody answers within `timeout` seconds (confirm.timeout)."""
    print(f"{question} [y/N] ", end="", file=sys.stderr, flush=True)
    if timeout is not None:
        readable, _, _ = select.select([sys.stdin], [], [], max(0.0, timeout))
        if not readable:
            print("", file=sys.stderr, flush=True)
            raise TimeoutError(f"no answer within {timeout:.0f}s")
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def default_approver(env: Mapping[str, str]) -> str:
    """Who runs `approve|reject` when --approver is not given: the CI's user, else the login name."""
    for key in ("BUILD_USER_ID", "GITHUB_ACTOR", "USER", "LOGNAME"):
        if env.get(key):
            return env[key]
    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:  # no such variable and a uid without a passwd entry (containers)
        raise ConfigError("cannot tell who decides", field="--approver", hint="pass --approver NAME") from exc


def _progress(message: str) -> None:
    stamp = datetime.datetime.now().strftime("%H:%M:%S")
    print(f"{stamp} {message}", file=sys.stderr, flush=True)


def _release(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from pipeline_steps import offline, session  # noqa: PLC0415
    from pipeline_steps.runner import run as run_steps  # noqa: PLC0415
    from pipeline_steps.runner import select_steps  # noqa: PLC0415

    names = [args.name] if args.command == "step" else select_steps(args.only, args.first, args.last)
    github = cli_output.GithubReporter.from_env(env)

    def started(name: str) -> None:
        github.start_group(name)
        _progress(f"==> {name}")

    def done(step: StepReport) -> None:
        _progress(cli_output.step_line(step))
        github.end_group(step)

    # A --context names a cluster the user means to read: without credentials that is an error, not offline.
    if args.dry_run and not args.context and offline.no_cluster_credentials(args.kubeconfig, env):
        # No cluster to read: render and validate what needs none, and say what was not checked.
        report = offline.plan(
            args, env, names, run_id=resolve_run_id(args.run_id, env), new_run_id=new_run_id, progress=_progress,
            on_step_start=started, on_step_done=done,
        )  # fmt: skip
        cli_output.emit(report, args, github)
        return report.exit_code
    ctx, save = session.open_release(
        args,
        env,
        run_id=resolve_run_id(args.run_id, env),
        # A selection that starts later (`run --from confirm`, a later stage) continues the unfinished run.
        fresh=names[0] == "pre-clean",
        new_run_id=new_run_id,
        prompt=_terminal_prompt if sys.stdin.isatty() else None,
        progress=_progress,
    )
    if ctx.prompt is not None:
        ctx.prompt = functools.partial(_terminal_prompt, timeout=ctx.config.confirm.timeout_s)
    from pipeline_steps.ci.gate_timeout import GATE_TIMEOUT_ENV, gate_outlives_lock  # noqa: PLC0415
    from pipeline_steps.runner import lock_duration  # noqa: PLC0415

    if "confirm" in names and (gate := gate_outlives_lock(env.get(GATE_TIMEOUT_ENV), lock_duration(ctx))):
        _progress(f"warning: {gate}")
    report = run_steps(ctx, names, on_step_start=started, on_step_done=done, save=save)
    cli_output.emit(report, args, github)
    return report.exit_code


def _maintenance(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from pipeline_steps import session  # noqa: PLC0415

    if args.command in ("approve", "reject") and not args.approver:
        args.approver = default_approver(env)

    ctx, save = session.open_release(
        args, env, run_id=resolve_run_id(args.run_id, env), fresh=False, new_run_id=new_run_id,
        prompt=None, progress=_progress,
    )  # fmt: skip
    cli_output.print_data(session.maintenance(ctx, args.command, args, env, save), args.output)
    return int(ExitCode.OK)


def _interrupt_on_sigterm() -> None:
    """CI systems abort a build with SIGTERM: treat it as Ctrl-C, so the cleanup paths (closing an approval
    request, giving back the release lock) run before the process ends."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
        signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    env = dict(os.environ)
    if args.command == "sandbox":
        from pipeline_steps.sandbox import cli as sandbox_cli  # noqa: PLC0415

        return sandbox_cli.run(args)
    _interrupt_on_sigterm()
    try:
        if args.command == "jenkins":
            from pipeline_steps import cli_ci  # noqa: PLC0415

            return cli_ci.run(args, env)
        if args.command in ("run", "step"):
            return _release(args, env)
        return _maintenance(args, env)
    except ConfigError as exc:
        cli_output.error(f"error: {exc}", env)
        return int(ExitCode.USAGE)
    except PipelineError as exc:
        cli_output.error(f"failed: {exc}", env)
        return int(ExitCode.FAILED)
    except KeyboardInterrupt:
        cli_output.error("interrupted", env)
        return int(ExitCode.FAILED)


if __name__ == "__main__":
    sys.exit(main())
