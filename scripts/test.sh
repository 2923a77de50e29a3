#!/usr/bin/env bash
# Runs every check and test of pipeline-steps on a fresh Debian machine that has Go (>= 1.26), Python
# (>= 3.11), Node.js 20 with npm and Java 17, setting up everything else they need:
# Debian's buildah, skopeo and docker-registry (image tests), a virtualenv with the package and its
# test tools, the sandbox's control plane (built from the Go module proxy on the first run, then
# cached under ~/.cache/pipeline-steps), and the linters of the CI files (actionlint,
# npm-groovy-lint, shellcheck). Every server a test needs (the sandbox cluster, an SMTP server, a
# registry, a Jenkins API stand-in) is started by the tests themselves.
#
#   bash scripts/test.sh                  # everything: lint, types, import contracts, all tests
#   bash scripts/test.sh tests/unit -x    # arguments go to pytest (lint and types still run)
set -euo pipefail
SCRIPT_NAME=test.sh
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/setup.sh
source scripts/lib/setup.sh

started=$SECONDS
ensure_debian_packages buildah skopeo docker-registry iproute2 nftables
ensure_venv dev
# The tests' own slow first-run fetches (act, built from the Go module proxy; the groovy-cps jars, from Maven
# Central) run beside the control-plane build, not one after another inside pytest; cached, they take no time.
prefetch_log=$(mktemp)
python -c 'from tests.engine.act import act_binary; from tests.jenkins.harness import jar_dir; act_binary(); jar_dir()' \
    >"$prefetch_log" 2>&1 &
prefetch=$!
ensure_sandbox_binaries
if ! wait "$prefetch"; then
    say "fetching act or the groovy-cps jars failed; their tests will say why: $(tail -3 "$prefetch_log")"
fi
rm -f "$prefetch_log"
tools_bin=$(bash scripts/test-tools.sh)
export PATH="$tools_bin:$PATH"
say "set-up done in $((SECONDS - started))s"

say "ruff check"
ruff check .
say "ruff format --check"
ruff format --check pipeline_steps sandbox/pipeline_steps_sandbox tests benchmarks
say "mypy"
mypy pipeline_steps sandbox/pipeline_steps_sandbox tests benchmarks
say "lint-imports"
lint-imports
# The end-to-end tests mostly wait on the cluster: parallel workers share one sandbox, each file on one
# worker (tests/conftest.py). PYTEST_WORKERS=0 runs them one after another.
workers=${PYTEST_WORKERS:-3}
parallel=()
[[ $workers != 0 ]] && parallel=(-n "$workers" --dist loadgroup)
say "pytest (${workers} workers)"
pytest "${parallel[@]}" "$@"
say "all green in $((SECONDS - started))s"
