#!/usr/bin/env bash
# The main job on a local sandbox: a blue/green release of examples/tomcat-bluegreen, with progress.
#
# Starts a real Kubernetes sandbox (control plane built from the Go module proxy on the first run,
# then reused), releases tomcat 9.0.98 into an empty namespace, then releases 9.0.99 to the idle
# role: deploy, verify through the test Service, confirm (auto here), switch the public Service,
# verify prod, post-clean. It shows what the public endpoint answers before and after, and the
# status of both roles. The sandbox is stopped at the end unless --keep is given.
#
#   bash scripts/demo.sh           # run it and clean up
#   bash scripts/demo.sh --keep    # leave the sandbox running to explore (it prints how)
set -euo pipefail
SCRIPT_NAME=demo.sh
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=lib/setup.sh
source scripts/lib/setup.sh

keep=false
[[ ${1:-} == --keep ]] && keep=true

ensure_venv
ensure_sandbox_binaries

dir=${DEMO_SANDBOX_DIR:-${TMPDIR:-/tmp}/pipeline-steps-demo}
pipeline-steps-sandbox down --dir "$dir" >/dev/null 2>&1 || true
if ! $keep; then
    # Set before `up`, so a start-up that fails half-way is stopped too.
    trap 'say "stopping the sandbox"; pipeline-steps-sandbox down --dir "$dir" >&2' EXIT
fi
pipeline-steps-sandbox up --dir "$dir"

export KUBECONFIG=$dir/kubeconfig
export NAMESPACE=tomcat-demo RESOLVE_DIGEST=false CONFIRM_MODE=auto
config=examples/tomcat-bluegreen/pipeline.yaml

public_answers() {
    # The public Service's address comes from `status`, as a user would read it; each answer names
    # the pod, its image and its role.
    local url
    url=$(pipeline-steps status -c "$config" --output json \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["public_url"])')
    say "six requests to the public endpoint $url:"
    python3 - "$url" <<'PY'
import json, sys, urllib.request
for _ in range(6):
    with urllib.request.urlopen(sys.argv[1] + "/", timeout=5) as answer:
        body = json.load(answer)
    print(f"  {answer.status}  role={body['role']:<6} image={body['image']:<14} pod={body['pod']}")
PY
}

say "release 1: tomcat:9.0.98 into the empty namespace $NAMESPACE"
pipeline-steps run -c "$config" --image tomcat:9.0.98
public_answers

say "release 2: tomcat:9.0.99 goes to the idle role, is tested there, then made public"
pipeline-steps run -c "$config" --image tomcat:9.0.99
public_answers

say "status of both roles"
pipeline-steps status -c "$config"
if $keep; then
    say "the sandbox keeps running: export KUBECONFIG=$KUBECONFIG; stop it with: pipeline-steps-sandbox down --dir $dir"
fi
