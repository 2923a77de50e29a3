"""The `pipeline-steps` command line."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pipeline-steps", description="Zero-downtime Kubernetes release steps.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    # The sandbox is loaded only for its own verbs; release code never imports it.
    from pipeline_steps.sandbox import cli as sandbox_cli  # noqa: PLC0415

    sandbox_cli.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sandbox":
        from pipeline_steps.sandbox import cli as sandbox_cli  # noqa: PLC0415

        return sandbox_cli.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
