#!/usr/bin/env bash
# Builds etcd and the Kubernetes control plane, kubelet and kubectl from the Go module proxy, once per version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"
export PATH=$PATH:/usr/local/go/bin GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
# ADR_BUILD_PROGRESS=1 (npm start): go build names each package it compiles, for trial/build-progress.ts to follow.
verbose=()
if [ "${ADR_BUILD_PROGRESS:-}" = 1 ]; then verbose=(-v); fi
built() { for b in etcd "${cmds[@]}"; do [ -x "$K8S_BIN/$b" ] || return 1; done; }

mkdir -p "$K8S_CACHE"
exec 9>"$K8S_CACHE/.build.lock"
flock 9   # concurrent callers (several test files, the benchmark) wait for one build
if built; then echo "binaries present in $K8S_BIN"; exit 0; fi

start=$(date +%s)
work=$K8S_CACHE/work
rm -rf "$work" "$K8S_BIN.tmp"
mkdir -p "$work/etcd" "$work/k8s" "$K8S_BIN.tmp"

# etcd: its own wrapper module, so its dependencies are not unified with Kubernetes' ones.
echo "== building etcd $ETCD_VERSION: etcd=go.etcd.io/etcd/server/v3"
(cd "$work/etcd"
 go mod init example.invalid/etcdbuild >/dev/null 2>&1
 go get -tool "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
 go build "${verbose[@]}" -trimpath -ldflags "-s -w" -o "$K8S_BIN.tmp/etcd" go.etcd.io/etcd/server/v3)

# Kubernetes: k8s.io/kubernetes requires its staging modules at v0.0.0 and maps them to ./staging with replace
# lines, which only apply in the main module. A wrapper module points each of them at its published tag v0.X.Y;
# the list is read from the tag's own go.mod because it changes between releases.
pkgs=("${cmds[@]/#/k8s.io/kubernetes/cmd/}")
echo "== building Kubernetes $K8S_VERSION: ${pkgs[*]}"
(cd "$work/k8s"
 go mod init example.invalid/k8sbuild >/dev/null 2>&1
 gomod=$(go mod download -json "k8s.io/kubernetes@v$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
 staging=v0.${K8S_VERSION#1.}
 sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$gomod" | while read -r m; do
   go mod edit -replace="$m=$m@$staging"
 done
 grep '^godebug' "$gomod" >> go.mod || true   # Kubernetes' godebug defaults apply only in the main module
 go get -tool "${pkgs[@]/%/@v$K8S_VERSION}"
 # The version variables of hack/lib/version.sh: the kubelet reports them as the node's kubeletVersion.
 minor=$(cut -d. -f2 <<<"$K8S_VERSION")
 ld="-s -w"
 for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
   ld+=" -X $p.gitVersion=v$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
   ld+=" -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=$(date -u +%FT%TZ)"
 done
 go build "${verbose[@]}" -trimpath -tags selinux,notest -ldflags "$ld" -o "$K8S_BIN.tmp/" "${pkgs[@]}")

mv "$K8S_BIN.tmp" "$K8S_BIN"
rm -rf "$work"
secs=$(( $(date +%s) - start ))
# The benchmark reports this figure when the build is already cached.
echo "$secs $(date -u +%F)" > "$K8S_CACHE/build-seconds"
echo "built etcd $ETCD_VERSION and Kubernetes $K8S_VERSION into $K8S_BIN in ${secs}s"
