#!/usr/bin/env bash
# Builds KEDA's operator and copies its CRDs from KEDA's Go module, once per version (bench/vs-keda.ts runs it).
# Prints the cache directory: bin/keda-operator and crd/*.yaml under it.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

KEDA_VERSION=${KEDA_VERSION:-2.21.0}
module=github.com/kedacore/keda/v2
cache=${ADR_CACHE:-/var/cache/adr}/keda-$KEDA_VERSION
built() { [ -x "$cache/bin/keda-operator" ] && compgen -G "$cache/crd/*.yaml" >/dev/null; }

mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9   # two benchmark runs wait for one build
if built; then echo "$cache"; exit 0; fi

start=$(date +%s)
work=$cache/work
rm -rf "$work" "${cache:?}/bin" "$cache/crd" "$cache/bin.tmp" "$cache/crd.tmp"
mkdir -p "$work" "$cache/bin.tmp"
(cd "$work"
 go mod init example.invalid/kedabuild >/dev/null 2>&1
 # KEDA's go.mod replaces nexus-proto-annotations v0.1.0 (no licence yet) and excludes a go-chi it never imports;
 # replace and exclude lines apply only in the main module, so this wrapper repeats them.
 go mod edit -replace=github.com/nexus-rpc/nexus-proto-annotations@v0.1.0=github.com/nexus-rpc/nexus-proto-annotations@v0.1.1-0.20260629224316-835bd8d49cb4
 go mod edit -exclude=github.com/go-chi/chi/v5@v5.2.3
 go get -tool "$module/cmd/operator@v$KEDA_VERSION" >&2
 # The version variables of KEDA's Makefile: the operator logs them and labels its Jobs with the version.
 go build -trimpath -ldflags "-s -w -X $module/version.Version=$KEDA_VERSION -X $module/version.GitCommit=v$KEDA_VERSION" \
   -o "$cache/bin.tmp/keda-operator" "$module/cmd/operator" >&2
 dir=$(go list -m -f '{{.Dir}}' "$module")
 mkdir -p "$cache/crd.tmp"
 cp "$dir"/config/crd/bases/*.yaml "$cache/crd.tmp/"
 chmod 644 "$cache"/crd.tmp/*.yaml)
mv "$cache/crd.tmp" "$cache/crd"
mv "$cache/bin.tmp" "$cache/bin"
rm -rf "$work"
echo "$(( $(date +%s) - start )) $(date -u +%F)" >"$cache/build-seconds"
echo "$cache"
