#!/bin/sh
# Prepares a privileged container for a nested Docker engine, then runs the command (`dockerd …`).
set -eu
# Shared mount propagation, as Docker's own dind script sets it, for volume mounts with propagation options.
mount --make-rshared /
# On a cgroup v2 host: processes can't sit in a cgroup whose controllers are delegated, so move ours into a leaf
# and hand every controller down to the containers the engine creates.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/init
  xargs -rn1 </sys/fs/cgroup/cgroup.procs >/sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
  sed -e 's/ / +/g' -e 's/^/+/' </sys/fs/cgroup/cgroup.controllers >/sys/fs/cgroup/cgroup.subtree_control
fi
# A pod's filesystem is new, but a container restarted in place keeps a stale pid file that stops dockerd.
rm -f /var/run/docker.pid /run/docker/containerd/containerd.pid
exec "$@"
