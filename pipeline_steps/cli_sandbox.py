"""`pipeline-steps sandbox ...`: hands over to the `pipeline-steps-sandbox` command where that is installed.

The sandbox is a distribution of its own (a test and demo tool, not part of a release). The library
never imports it: it only asks whether the package is there and runs the sandbox's command as a
program, whose own exit codes pass through unchanged (documented by `pipeline-steps-sandbox --help`).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

from pipeline_steps.errors import ConfigError

SANDBOX_PACKAGE = "pipeline_steps_sandbox"
INSTALL_HINT = (
    "it is a distribution of its own: pip install pipeline-steps-sandbox "
    "(in a checkout of pipeline-steps: pip install -e ./sandbox)"
)


def installed() -> bool:
    return importlib.util.find_spec(SANDBOX_PACKAGE) is not None


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Everything after `sandbox` is the sandbox command's, --help included: with a prefix character no
    # argument can start with, argparse takes every one of them as the remainder.
    if installed():
        parser = subparsers.add_parser(
            "sandbox",
            help="a local Kubernetes for trying releases (runs pipeline-steps-sandbox)",
            add_help=False,
            prefix_chars="\0",
        )
    else:
        # Not listed in --help; typed anyway, `run` says how to install it.
        parser = subparsers.add_parser("sandbox", add_help=False, prefix_chars="\0")
    parser.add_argument("sandbox_args", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    if not installed():
        raise ConfigError("the sandbox is not installed", field="pipeline-steps sandbox", hint=INSTALL_HINT)
    import subprocess  # noqa: PLC0415  (only when the verb runs; --help stays lean)

    with subprocess.Popen([sys.executable, "-m", SANDBOX_PACKAGE, *args.sandbox_args]) as process:
        while True:
            try:
                return process.wait()
            except KeyboardInterrupt:
                # Ctrl-C reached the sandbox's command too: it stops what it had started, then exits.
                continue
