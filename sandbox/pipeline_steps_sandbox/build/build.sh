#!/usr/bin/env bash
# Builds the sandbox control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl) from the Go module proxy and caches the binaries outside the repository.
#
# The cache key is the versions in versions.env plus a hash of the wrapper modules' go.mod/go.sum
# and the Go version, so a second run on the same machine reuses the binaries and a change of any
# of them rebuilds. Prints the directory holding the binaries on stdout (and nothing else there).
# It ships inside the pipeline_steps_sandbox package, next to the Go modules it builds; the launcher
# (and `pipeline-steps-sandbox build`) runs it from there.
#
#   bash build.sh            build if missing, print the bin directory
#   bash build.sh --force    rebuild even if cached
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

force=false
[[ "${1:-}" == "--force" ]] && force=true

command -v go >/dev/null || { echo "pipeline-steps-sandbox build.sh: Go is not installed; install Go >= 1.26" >&2; exit 2; }

go_version=$(go env GOVERSION)
key_hash=$(cat "$here/kube/go.mod" "$here/kube/go.sum" "$here/etcd/go.mod" "$here/etcd/go.sum" \
  | { cat; echo "$go_version"; } | sha256sum | cut -c1-12)
cache_root=${PIPELINE_STEPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pipeline-steps}
bin_dir="$cache_root/sandbox-bin/k8s-v$KUBE_VERSION-etcd-v$ETCD_VERSION-$key_hash"
wanted=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

complete() {
  local b
  for b in "${wanted[@]}"; do [[ -x "$bin_dir/$b" ]] || return 1; done
  [[ -f "$bin_dir/.complete" ]]
}

if ! $force && complete; then
  echo "$bin_dir"
  exit 0
fi

log() { echo "pipeline-steps-sandbox build.sh: $*" >&2; }
started=$(date +%s)
tmp_dir="$bin_dir.partial.$$"
rm -rf "$tmp_dir"
mkdir -p "$tmp_dir"
trap 'rm -rf "$tmp_dir"' EXIT

export CGO_ENABLED=0 GOFLAGS=-mod=mod
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
major=${KUBE_VERSION%%.*}
minor=${KUBE_VERSION#*.}; minor=${minor%%.*}
version_ldflags=""
# kubectl reports its client version from client-go, the servers from component-base.
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_ldflags+=" -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  version_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl v$KUBE_VERSION (a cold build takes a while)"
(cd "$here/kube" && go build -p "${SANDBOX_BUILD_JOBS:-2}" -trimpath -ldflags "-s -w $version_ldflags" -o "$tmp_dir/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl)

log "building etcd v$ETCD_VERSION"
(cd "$here/etcd" && go build -p "${SANDBOX_BUILD_JOBS:-2}" -trimpath -ldflags "-s -w" -o "$tmp_dir/etcd" go.etcd.io/etcd/server/v3)

touch "$tmp_dir/.complete"
rm -rf "$bin_dir"
mv "$tmp_dir" "$bin_dir"
trap - EXIT
log "built in $(( $(date +%s) - started ))s into $bin_dir"
echo "$bin_dir"
