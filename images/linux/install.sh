#!/bin/bash
# Build step of images/linux/Dockerfile (runs as root): packages, the agent user, the pinned agent, the entrypoint.
set -euo pipefail

: "${AGENT_PACKAGE_URL:?}" "${AGENT_UID:?}"
agent_dir=/azp/agent
# What the entrypoint and typical jobs need (Microsoft's Docker sample installs curl, git and jq too).
base_packages="bash ca-certificates curl git jq tar gzip tini"

installed() { [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]; }

apt_install() {
  command -v apt-get >/dev/null || { echo "install.sh: the base image has no apt-get; use a Debian or Ubuntu base" >&2; exit 1; }
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  rm -rf /var/lib/apt/lists/*
}

# Only call apt when something is missing, so a base that already holds everything builds without a network.
missing=()
for pkg in $base_packages ${EXTRA_PACKAGES:-}; do
  installed "$pkg" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi

# The agent user. Jobs run as this user too; the image never runs anything as root after the build.
groupadd --gid "$AGENT_UID" agent
useradd --uid "$AGENT_UID" --gid "$AGENT_UID" --create-home --home-dir /home/agent --shell /bin/bash agent

# Rootless buildah (dockerMode buildah; EXTRA_PACKAGES buildah brings uidmap): the agent maps the image's users into a
# user namespace through newuidmap/newgidmap. Debian's are setuid root, which fails in an unprivileged container: as
# euid 0 they don't own the agent's new namespace, and the kernel then wants CAP_SYS_ADMIN. With file capabilities
# instead they keep the agent's uid, the namespace's owner, and need only SETUID/SETGID (docker/README.md).
if command -v newuidmap >/dev/null && command -v newgidmap >/dev/null; then
  command -v setcap >/dev/null || apt_install libcap2-bin
  chmod u-s,g-s "$(command -v newuidmap)" "$(command -v newgidmap)"
  setcap cap_setuid+ep "$(command -v newuidmap)"
  setcap cap_setgid+ep "$(command -v newgidmap)"
  for ids in /etc/subuid /etc/subgid; do
    grep -q '^agent:' "$ids" 2>/dev/null || echo "agent:100000:65536" >>"$ids"
  done
fi

# The agent, baked in at build time: no download at start, no self-update.
package=$(mktemp /tmp/agent-package.XXXXXX)
curl -fsSL --retry 3 -o "$package" "$AGENT_PACKAGE_URL"
if [ -n "${AGENT_PACKAGE_SHA256:-}" ]; then
  echo "${AGENT_PACKAGE_SHA256,,}  $package" | sha256sum --check --strict --quiet \
    || { echo "install.sh: the agent package does not match AGENT_PACKAGE_SHA256" >&2; exit 1; }
fi
mkdir -p "$agent_dir"
tar -xzf "$package" -C "$agent_dir" --no-same-owner
rm -f "$package"
[ -x "$agent_dir/config.sh" ] && [ -x "$agent_dir/run.sh" ] \
  || { echo "install.sh: $AGENT_PACKAGE_URL is not an agent package (no config.sh/run.sh)" >&2; exit 1; }

# The real agent's .NET runtime needs ICU; its own script knows the package names for each distribution.
if [ -x "$agent_dir/bin/installdependencies.sh" ] && ! ldconfig -p | grep -q libicu; then
  apt-get update -q && "$agent_dir/bin/installdependencies.sh" && rm -rf /var/lib/apt/lists/*
fi

# The agent's version, which the autoscaler's registration reports as config.sh would (runner/handshake.ts). Asked of
# the agent itself, as the package may not be the one AGENT_VERSION names; the log folder it writes is not kept.
version=$(timeout 120 "$agent_dir/bin/Agent.Listener" --version 2>/dev/null | tr -d '\r' | grep -Eo '^[0-9]+\.[0-9]+\.[0-9]+$' | head -n 1 || true)
rm -rf "$agent_dir/_diag"
install -d -m 0755 /usr/local/lib/azp
printf '%s\n' "${version:-${AGENT_VERSION:-}}" >/usr/local/lib/azp/agent-version

# The agent files belong to root and can't be changed by the agent user (nor by a job). The agent root is
# sticky and writable, like /tmp: the agent creates its settings, _diag and _work there but can't replace
# config.sh, run.sh or bin/ (a container restarted in place runs them again).
chown -R root:root "$agent_dir"
chmod -R go-w "$agent_dir"
chmod 1777 "$agent_dir"

# Private, execute-only copies of tini and bash for the entrypoint: a process started from a file its user can't
# read is not dumpable, so job steps (same uid) can't read its /proc/<pid>/environ or memory (docker/README.md).
install -m 0711 "$(command -v tini)" /usr/local/lib/azp/init
install -m 0711 "$(command -v bash)" /usr/local/lib/azp/bash
install -m 0755 /tmp/azp-build/start.sh /usr/local/bin/start.sh
# The entrypoint's typed part (runner/), run on the agent's Node; it holds no secret, so it may be read.
install -m 0644 /tmp/azp-build/runner.js /usr/local/lib/azp/runner.js
# dockerMode podContainers' `docker` (start.sh puts its folder first on the agent's PATH): runner.js's shim.
install -D -m 0755 /tmp/azp-build/docker /usr/local/lib/azp/bin/docker
# The pool's in-cluster autoscaler (start.sh autoscaler), on the same Node.
install -m 0644 /tmp/azp-build/autoscaler.js /usr/local/lib/azp/autoscaler.js
