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
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pipeline_steps import __version__
from pipeline_steps.errors import ConfigError, PipelineError
from pipeline_steps.outcome import ExitCode, exit_code_for_error
from pipeline_steps.step_names import STEP_NAMES

if TYPE_CHECKING:
    from pipeline_steps.report import StepReport

# The release machinery (kubernetes client, yaml, the steps) is imported by the verbs that use it, never at
# start-up: `--help`, `--version` and a mistyped flag answer at once.


def _add_release_flags(parser: argparse.ArgumentParser, *, steps: bool) -> None:
    parser.add_argument("-c", "--config", help="pipeline.yaml (env PIPELINE_STEPS_CONFIG; default ./pipeline.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="VAR=VALUE", help="set a ${VAR} (repeatable)")
    parser.add_argument("--namespace", help="override the config's namespace (env PIPELINE_STEPS_NAMESPACE)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, ~/.kube/config, in-cluster)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument(
        "--state",
        help="state file (env PIPELINE_STEPS_STATE; default .pipeline-steps/state/CLUSTER/NAMESPACE/APP.json)",
    )
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
        epilog=(
            "exit codes: 0 ok, 1 failed, 2 usage or config error, 3 rolled back, 4 awaiting approval, 5 rejected, "
            "6 temporary (run it again), 7 internal error"
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the release steps in order")
    _add_release_flags(run, steps=True)
    run.add_argument("--from", dest="first", choices=STEP_NAMES, help="first step to run")
    run.add_argument("--to", dest="last", choices=STEP_NAMES, help="last step to run")
    run.add_argument("--only", action="append", default=[], choices=STEP_NAMES, help="run only this step")
    step = sub.add_parser("step", help="run one step, chaining through the state file (one CI stage)")
    step.add_argument("name", choices=STEP_NAMES)
    _add_release_flags(step, steps=True)
    rollback = sub.add_parser("rollback", help="put the previous release back in public")
    _add_release_flags(rollback, steps=False)
    rollback.add_argument(
        "--force", action="store_true", help="even while another run is in switch or verify-prod (a run known dead)"
    )
    status = sub.add_parser("status", help="show both roles")
    _add_release_flags(status, steps=False)
    unlock = sub.add_parser(
        "unlock", help="give back the app's release lock held by this run (--run-id), e.g. after a CI gate said no"
    )
    _add_release_flags(unlock, steps=False)
    unlock.add_argument("--force", action="store_true", help="remove the lock whoever holds it (a run known dead)")
    for name in ("approve", "reject"):
        command = sub.add_parser(name, help=f"{name} a release waiting in confirm mode `wait`")
        _add_release_flags(command, steps=False)
        command.add_argument(
            "--approver",
            help="who decides (default: whom the credentials authenticate as; another name needs the right to "
            "impersonate that user)",
        )
        command.add_argument("--comment", default="", help="why")
    rbac = sub.add_parser("rbac", help="print the least-privilege Role and RoleBinding the CI identity needs")
    rbac.add_argument(
        "-c", "--config", help="pipeline.yaml: adds the kinds its manifests hold (default ./pipeline.yaml)"
    )
    rbac.add_argument("--set", action="append", default=[], metavar="VAR=VALUE", help="set a ${VAR} (repeatable)")
    rbac.add_argument("--namespace", help="the namespace the releases go to (default: the config's)")
    rbac.add_argument("--service-account", default="pipeline-steps", help="the CI's ServiceAccount (in that namespace)")
    rbac.add_argument("--user", help="bind a user (as the CI authenticates) instead of a ServiceAccount")
    rbac.add_argument("--role-name", default="pipeline-steps", help="name of the Role and RoleBinding")
    rbac.add_argument(
        "--approvers",
        action="store_true",
        help="also print the approvers' Role (the app's approval record only) and the admission policy that lets "
        "only them record a decision",
    )
    rbac.add_argument(
        "--approver-user", action="append", default=[], help="an approver (default: confirm.approvers; repeatable)"
    )
    rbac.add_argument("--approver-group", action="append", default=[], help="a group of approvers (repeatable)")
    sub.add_parser("schema", help="print the JSON Schema of pipeline.yaml, for editors (yaml-language-server)")
    from pipeline_steps import cli_ci  # noqa: PLC0415

    cli_ci.add_parsers(sub)
    # `sandbox` hands over to the sandbox's own command where that distribution is installed; never imported.
    from pipeline_steps import cli_sandbox as sandbox_cli  # noqa: PLC0415

    sandbox_cli.add_parser(sub)
    return parser


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
    """Who runs `approve|reject` on a cluster that cannot say whom the credentials are (no SelfSubjectReview) when
    --approver is not given: the CI's user, else the login name."""
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
    from pipeline_steps import cli_output, session  # noqa: PLC0415
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

    ctx, save = session.open_release(
        session.ReleaseOptions.from_args(args),
        env,
        # A selection that starts later (`run --from confirm`, a later stage) continues the unfinished run.
        fresh=names[0] == "pre-clean",
        prompt=_terminal_prompt if sys.stdin.isatty() else None,
        progress=_progress,
    )
    if ctx.prompt is not None:
        ctx.prompt = functools.partial(_terminal_prompt, timeout=ctx.config.confirm.timeout_s)
    report = run_steps(ctx, names, on_step_start=started, on_step_done=done, save=save)
    cli_output.emit(report, args, github)
    return report.exit_code


def _maintenance(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from pipeline_steps import cli_output, maintenance, session  # noqa: PLC0415

    ctx, _save = session.open_release(
        session.ReleaseOptions.from_args(args), env, fresh=False, prompt=None, progress=_progress
    )
    if args.command == "status":
        answer = maintenance.status(ctx)
    elif args.command == "rollback":
        answer = maintenance.rollback(ctx, force=args.force)
    elif args.command == "unlock":
        answer = maintenance.unlock(ctx, force=args.force)
    else:
        decision = "approved" if args.command == "approve" else "rejected"
        answer = maintenance.decide(
            ctx,
            decision,
            run_id=args.run_id,
            approver=args.approver,
            comment=args.comment,
            fallback_approver=lambda: default_approver(env),
        )
    cli_output.print_data(answer, args.output)
    return int(ExitCode.OK)


def _rbac(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    import yaml  # noqa: PLC0415

    from pipeline_steps import maintenance, session  # noqa: PLC0415

    manifests = maintenance.rbac(
        session.ReleaseOptions.from_args(args),
        env,
        service_account=args.service_account,
        user=args.user,
        role_name=args.role_name,
        approvers=args.approvers,
        approver_users=tuple(args.approver_user),
        approver_groups=tuple(args.approver_group),
    )
    print(yaml.safe_dump_all(manifests, sort_keys=False), end="")
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
    if args.command == "schema":
        from pipeline_steps.config.schema import schema_text  # noqa: PLC0415  (pydantic only for this verb)

        sys.stdout.write(schema_text())
        return int(ExitCode.OK)
    _interrupt_on_sigterm()
    try:
        if args.command == "sandbox":
            from pipeline_steps import cli_sandbox as sandbox_cli  # noqa: PLC0415

            if not sandbox_cli.installed() and {"-h", "--help"} & set(args.sandbox_args):
                print("usage: pipeline-steps sandbox ...\n")
                print(f"The local Kubernetes sandbox is not installed; {sandbox_cli.INSTALL_HINT}.")
                return int(ExitCode.OK)
            return sandbox_cli.run(args)
        if args.command == "jenkins":
            from pipeline_steps import cli_ci  # noqa: PLC0415

            return cli_ci.run(args, env)
        if args.command in ("run", "step"):
            return _release(args, env)
        if args.command == "rbac":
            return _rbac(args, env)
        return _maintenance(args, env)
    except (Exception, KeyboardInterrupt) as exc:
        return _stopped(exc, args, env)


def _stopped(error: BaseException, args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """A command that stopped on an error before or outside a run's report: say why, write the report if one
    was asked for, and exit with the error's code. Never a raw traceback (PIPELINE_STEPS_DEBUG=1 shows it)."""
    from pipeline_steps import cli_output  # noqa: PLC0415

    code = exit_code_for_error(error)
    if isinstance(error, KeyboardInterrupt):
        message = "interrupted"
    elif isinstance(error, ConfigError):
        message = f"error: {error}"
    elif isinstance(error, PipelineError):
        message = f"failed{' (temporary: run it again)' if error.retryable else ''}: {error}"
    else:
        message = (
            f"internal error: {type(error).__name__}: {error} (a bug in pipeline-steps; please report it with "
            f"the command `pipeline-steps {args.command}` and this message)"
        )
        if env.get("PIPELINE_STEPS_DEBUG"):
            traceback.print_exception(error, file=sys.stderr)
    cli_output.error(message, env)
    cli_output.write_error_report(getattr(args, "report", None), message, code.name.lower(), int(code))
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
