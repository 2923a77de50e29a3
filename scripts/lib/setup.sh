# Shared set-up for scripts/test.sh and scripts/demo.sh; sourced, not run.
# Brings a fresh Debian machine to where the project runs: its Debian packages, a virtualenv with the
# package installed, and the sandbox's control-plane binaries (built once, then reused from the cache).

say() { printf '%s: %s\n' "${SCRIPT_NAME:-setup}" "$*" >&2; }

# Installs the Debian packages whose commands are missing. Needs root (as CI runs) or sudo.
ensure_debian_packages() {
    local wanted=() pkg cmd
    for pkg in "$@"; do
        cmd=$pkg
        [[ $pkg == docker-registry ]] && cmd=/usr/bin/docker-registry
        [[ $pkg == iproute2 ]] && cmd=ip
        [[ $pkg == nftables ]] && cmd=nft
        command -v "$cmd" >/dev/null 2>&1 || wanted+=("$pkg")
    done
    ((${#wanted[@]})) || return 0
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    say "installing Debian packages: ${wanted[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -q "${wanted[@]}" >/dev/null; then
        "${sudo[@]}" apt-get update -q >/dev/null
        "${sudo[@]}" apt-get install -y -q "${wanted[@]}" >/dev/null
    fi
}

# Whether an install with extra $1 since the pyproject.toml files last changed covers extra $2
# (dev > test > none).
_covers() {
    declare -A rank=([none]=1 [test]=2 [dev]=3)
    local stamp=.venv/.installed-$1
    [[ -f $stamp && ! pyproject.toml -nt $stamp && ! sandbox/pyproject.toml -nt $stamp ]] &&
        ((${rank[$1]:-0} >= ${rank[$2]:-0}))
}

# A virtualenv in .venv with the package (with extra $1: test, dev, or none) and the sandbox, its own
# distribution in sandbox/, both editable; reinstalls only when a pyproject.toml changed since the last install.
ensure_venv() {
    local extra=${1:-none} python=${PYTHON:-python3} spec=.
    [[ $extra == none ]] || spec=".[$extra]"
    local stamp=.venv/.installed-$extra
    if [[ ! -x .venv/bin/python ]]; then
        say "creating .venv with $($python --version)"
        "$python" -m venv .venv
    fi
    if ! _covers dev "$extra" && ! _covers test "$extra" && ! _covers "$extra" "$extra"; then
        say "installing pipeline-steps${spec#.} and pipeline-steps-sandbox into .venv"
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec" -e ./sandbox
        touch "$stamp"
    fi
    export PATH="$PWD/.venv/bin:$PATH"
}

# Builds or reuses the control-plane binaries and tells the sandbox where they are.
ensure_sandbox_binaries() {
    local started=$SECONDS bin
    bin=$(pipeline-steps-sandbox build)
    export PIPELINE_STEPS_SANDBOX_BIN=$bin
    say "control-plane binaries in $bin ($((SECONDS - started))s)"
    # The sandbox's data plane is the real kube-proxy wherever network namespaces can be made (root);
    # built here once, so that sandboxes started side by side by the tests never build it at once.
    if [[ $(id -u) -eq 0 ]] && command -v ip >/dev/null && command -v nft >/dev/null; then
        started=$SECONDS
        bin=$(bash sandbox/pipeline_steps_sandbox/build/build-kube-proxy.sh)
        export PIPELINE_STEPS_KUBE_PROXY_BIN=$bin
        say "kube-proxy in $bin ($((SECONDS - started))s)"
    fi
}
