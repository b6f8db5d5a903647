#!/bin/bash
# Builds the local Debian base image for image tests and the local trial (no registry here): debootstrap once, cache the
# tarball, import it into Docker or into the buildah storage of tests/cluster/cluster.sh.
# Usage: base-image.sh [tag] [docker|buildah]   (default localhost/debian:bookworm docker). Needs root, debootstrap, and
# a running Docker engine for docker.
set -euo pipefail

tag=${1:-localhost/debian:bookworm}
into=${2:-docker}
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# What the runner image needs at build time, so its Dockerfile skips apt (tests reach nothing but loopback).
include=ca-certificates,curl,git,jq,tini
cache_dir=${ADR_CACHE_DIR:-/var/cache/adr}/base-image
key=$(printf '%s\n' "$suite" "$mirror" "$include" minbase | sha256sum | cut -c1-12)
tarball=$cache_dir/debian-$suite-$key.tar

if [ ! -s "$tarball" ]; then
  mkdir -p "$cache_dir"
  root=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -20 "$root.log" >&2; exit 1; }
  rm -f "$root.log"
  # Drop the package lists and caches: they only make the tarball bigger.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
  mv "$tarball.tmp" "$tarball"
fi

if [ "$into" = buildah ]; then
  b() { "$here/../cluster/cluster.sh" buildah "$@"; }
  if ! b inspect --type image "$tag" >/dev/null 2>&1; then
    ctr=$(b from scratch)
    b add "$ctr" "$tarball" / >/dev/null
    b commit -q "$ctr" "$tag" >/dev/null
    b rm "$ctr" >/dev/null
  fi
elif ! docker image inspect "$tag" >/dev/null 2>&1; then
  docker import "$tarball" "$tag" >/dev/null
fi
echo "$tag"
