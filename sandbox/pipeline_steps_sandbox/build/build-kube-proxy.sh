#!/usr/bin/env bash
# Builds kube-proxy for the sandbox's real data plane, from the Go module proxy, and caches it outside
# the repository in a directory of its own: kube-proxy-v<version>-<hash>, the hash over its wrapper
# module's go.mod/go.sum and the Go version, as build.sh keys the control plane. Kept apart from
# build.sh's directory so the control plane's cached binaries stay valid. Prints the directory holding
# the binary on stdout (and nothing else there).
#
#   bash build-kube-proxy.sh            build if missing, print the bin directory
#   bash build-kube-proxy.sh --force    rebuild even if cached
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

force=false
[[ "${1:-}" == "--force" ]] && force=true

command -v go >/dev/null || { echo "pipeline-steps-sandbox build-kube-proxy.sh: Go is not installed; install Go >= 1.26" >&2; exit 2; }

go_version=$(go env GOVERSION)
key_hash=$(cat "$here/kube-proxy/go.mod" "$here/kube-proxy/go.sum" | { cat; echo "$go_version"; } | sha256sum | cut -c1-12)
cache_root=${PIPELINE_STEPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-steps}
bin_dir="$cache_root/sandbox-bin/kube-proxy-v$KUBE_VERSION-$key_hash"

if ! $force && [[ -x "$bin_dir/kube-proxy" && -f "$bin_dir/.complete" ]]; then
  echo "$bin_dir"
  exit 0
fi

# Sandboxes started side by side (test workers) would all build: one builds, the others wait and reuse.
mkdir -p "$cache_root/sandbox-bin"
exec 9>"$cache_root/sandbox-bin/.kube-proxy-v$KUBE_VERSION.lock"
flock 9
if ! $force && [[ -x "$bin_dir/kube-proxy" && -f "$bin_dir/.complete" ]]; then
  echo "$bin_dir"
  exit 0
fi

log() { echo "pipeline-steps-sandbox build-kube-proxy.sh: $*" >&2; }
started=$(date +%s)
tmp_dir="$bin_dir.partial.$$"
rm -rf "$tmp_dir"
mkdir -p "$tmp_dir"
trap 'rm -rf "$tmp_dir"' EXIT

export CGO_ENABLED=0 GOFLAGS=-mod=mod
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
major=${KUBE_VERSION%%.*}
minor=${KUBE_VERSION#*.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
version_ldflags="-X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
version_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"

log "building kube-proxy v$KUBE_VERSION"
(cd "$here/kube-proxy" && go build -p "${SANDBOX_BUILD_JOBS:-2}" -trimpath -ldflags "-s -w $version_ldflags" \
  -o "$tmp_dir/" k8s.io/kubernetes/cmd/kube-proxy)

touch "$tmp_dir/.complete"
rm -rf "$bin_dir"
mv "$tmp_dir" "$bin_dir"
trap - EXIT
log "built in $(( $(date +%s) - started ))s into $bin_dir"
echo "$bin_dir"
