# Versions and paths of the test cluster, sourced by the scripts in tests/cluster/ (they use what seems unused here).
# shellcheck shell=bash disable=SC2034
# Kubernetes 1.36.x: container-level restartPolicy / restartPolicyRules (ContainerRestartRules) are beta and on
# by default from 1.35, which the pool's fresh-pod-per-job design relies on; 1.36 is built with Go 1.26, the
# toolchain installed here. It still falls back to the kubelet's cgroupDriver with containerd 1.6 (until 1.38).
K8S_VERSION=1.36.3
# etcd 3.6.x is what kubeadm pairs with 1.35+; Debian's 3.4 is below the apiserver's documented minimum.
ETCD_VERSION=3.6.16
# Built binaries live outside the repository, keyed by version, so a machine builds them once.
ADR_CACHE=${ADR_CACHE:-/var/cache/adr}
K8S_CACHE=$ADR_CACHE/k8s-$K8S_VERSION-etcd-$ETCD_VERSION
K8S_BIN=$K8S_CACHE/bin
# Runtime state of a running cluster (configs, pids, logs, etcd data).
CLUSTER_STATE=${CLUSTER_STATE:-/var/lib/adr-cluster}
REGISTRY_ADDR=127.0.0.1:5000
RUN_DIR=/run/adr-cluster
NODE_NAME=adr-node
# The kubelet refuses a loopback node IP: the node gets a veth whose peer sits in a namespace of our own.
NODE_NETNS=adr-node
NODE_IP=10.250.0.1
POD_SUBNET=10.244.0.0/24
ETCD_PORT=12379
# buildah keeps its images here (vfs: works on any filesystem without extra mounts).
BUILDAH_OPTS=(--root "$ADR_CACHE/buildah/root" --runroot /run/adr-buildah --storage-driver vfs)
