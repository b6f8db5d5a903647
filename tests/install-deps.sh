#!/usr/bin/env bash
# Installs what the e2e suites and the local trial (npm start) need from Debian's packages (cluster, Docker engine,
# base-image bootstrap, Chromium; and shellcheck for the whole run's lint) and builds the test cluster's binaries (cached by version), unless ADR_NO_CLUSTER=1
# (another cluster is used). Idempotent; needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pkgs=(containerd runc containernetworking-plugins docker-registry buildah busybox-static iproute2 openssl curl
  docker.io debootstrap chromium shellcheck)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  # Packaged services (containerd, docker, docker-registry) must not start: the tests run their own instances.
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d.adr && chmod +x /usr/sbin/policy-rc.d.adr
  if [ ! -e /usr/sbin/policy-rc.d ]; then mv /usr/sbin/policy-rc.d.adr /usr/sbin/policy-rc.d; added=1; else rm /usr/sbin/policy-rc.d.adr; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [ "${added:-0}" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
if [ "${ADR_NO_CLUSTER:-}" != 1 ]; then "$here/cluster/build.sh"; fi
