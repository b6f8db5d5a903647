#!/usr/bin/env bash
# Starts and stops a real single-node Kubernetes (etcd, control plane, containerd, kubelet, local registry) for e2e tests.
# Usage: cluster.sh build|up|down|status|env|legacy|legacy-down|push <buildah-image> <repo:tag>|buildah <args...>
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"

S=$CLUSTER_STATE
KUBECTL=$K8S_BIN/kubectl
ADMIN=$S/admin.kubeconfig
SOCK=$RUN_DIR/containerd.sock
# Started in this order, stopped in the reverse one.
COMPONENTS=(registry etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet)
# How both API servers reach the kubelet (which refuses anonymous callers).
KUBELET_CLIENT=(--kubelet-client-certificate="$S/pki/apiserver-kubelet-client.crt" --kubelet-client-key="$S/pki/apiserver-kubelet-client.key")

log() { echo "cluster: $*" >&2; }
pid_of() { cat "$S/pids/$1" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
k() { "$KUBECTL" --kubeconfig "$ADMIN" "$@"; }

# Starts a daemon in its own session; its pid is recorded so `down` stops exactly what `up` started.
start() {
  local name=$1; shift
  setsid "$@" >"$S/logs/$name.log" 2>&1 </dev/null 8>&- &   # without the lock fd: daemons must not hold it
  echo $! >"$S/pids/$name"
}

# Polls a command until it succeeds; on timeout shows the log of the component that did not come up.
wait_for() {
  local what=$1 secs=$2 name=$3; shift 3
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $end ] || ! alive "$name"; then
      log "$what not ready after ${secs}s; last lines of $S/logs/$name.log:"
      tail -n 30 "$S/logs/$name.log" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

pause_image() {
  local tag; tag=$(sha256sum "$here/pause/main.go" | cut -c1-12)
  PAUSE_REF=localhost/adr-pause:$tag
  PAUSE_TAR=$ADR_CACHE/pause-$tag.tar
  [ -s "$PAUSE_TAR" ] && return
  local ctx; ctx=$(mktemp -d)
  (cd "$here/pause" && PATH=$PATH:/usr/local/go/bin GOTOOLCHAIN=local CGO_ENABLED=0 \
    go build -trimpath -ldflags "-s -w" -o "$ctx/pause" .)
  printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$ctx/Containerfile"
  buildah "${BUILDAH_OPTS[@]}" bud -q --isolation chroot -t "$PAUSE_REF" "$ctx" >/dev/null
  buildah "${BUILDAH_OPTS[@]}" push -q "$PAUSE_REF" "docker-archive:$PAUSE_TAR.tmp:$PAUSE_REF"
  mv "$PAUSE_TAR.tmp" "$PAUSE_TAR"
  rm -rf "$ctx"
}

pki() {
  local p=$S/pki
  mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=adr-test-ca -keyout "$p/ca.key" -out "$p/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout "$p/apiserver.key" -out "$p/apiserver.csr" 2>/dev/null
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 30 \
    -out "$p/apiserver.crt" -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,IP:10.96.0.1') 2>/dev/null
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  # The API servers' client certificate for the kubelet (logs, exec, port-forward), as kubeadm issues it: the
  # kubelet takes no anonymous caller, and asks the API server whether a caller it knows may do what it asks.
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    -keyout "$p/apiserver-kubelet-client.key" -out "$p/apiserver-kubelet-client.csr" 2>/dev/null
  openssl x509 -req -in "$p/apiserver-kubelet-client.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 30 \
    -out "$p/apiserver-kubelet-client.crt" -extfile <(printf 'extendedKeyUsage=clientAuth') 2>/dev/null
  # Static tokens (a development authenticator, fine for a throw-away cluster); fresh on every `up`.
  local user uid groups tok
  : >"$p/tokens.csv"
  while read -r name user uid groups; do
    tok=$(openssl rand -hex 16)
    if [ "$groups" = - ]; then echo "$tok,$user,$uid"; else echo "$tok,$user,$uid,\"$groups\""; fi >>"$p/tokens.csv"
    "$KUBECTL" config set-cluster adr --server=https://127.0.0.1:6443 --certificate-authority="$p/ca.crt" \
      --embed-certs --kubeconfig "$S/$name.kubeconfig" >/dev/null
    "$KUBECTL" config set-credentials "$user" --token="$tok" --kubeconfig "$S/$name.kubeconfig" >/dev/null
    "$KUBECTL" config set-context adr --cluster=adr --user="$user" --kubeconfig "$S/$name.kubeconfig" >/dev/null
    "$KUBECTL" config use-context adr --kubeconfig "$S/$name.kubeconfig" >/dev/null
  done <<EOF
admin admin admin system:masters
controller-manager system:kube-controller-manager kcm -
scheduler system:kube-scheduler scheduler -
kubelet system:node:$NODE_NAME $NODE_NAME system:nodes
EOF
  chmod 600 "$p"/*.key "$p/tokens.csv" "$S"/*.kubeconfig
}

node_network() {
  ip link del adr-node-h 2>/dev/null || true   # left over from an interrupted run
  ip netns del "$NODE_NETNS" 2>/dev/null || true
  ip netns add "$NODE_NETNS"
  ip link add adr-node-h type veth peer name adr-node-n
  ip link set adr-node-n netns "$NODE_NETNS"
  ip addr add "$NODE_IP/24" dev adr-node-h
  ip link set adr-node-h up
  ip -n "$NODE_NETNS" addr add "${NODE_IP%.1}.2/24" dev adr-node-n
  ip -n "$NODE_NETNS" link set adr-node-n up
}

write_configs() {
  mkdir -p "$S/cni" "$S/registry"
  cat >"$S/registry.yml" <<EOF
version: 0.1
storage:
  filesystem: {rootdirectory: $S/registry}
  delete: {enabled: true}
http:
  addr: $REGISTRY_ADDR
EOF
  # Our own containerd, apart from any other one on the machine (socket, root, state, runc root, CNI config).
  cat >"$S/containerd.toml" <<EOF
version = 2
root = "$S/containerd"
state = "$RUN_DIR/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$S/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_REF"
  # This machine lacks CAP_SYS_RESOURCE: lowering the pause container's oom_score_adj would fail every sandbox.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  # Pod network namespaces under our state directory, not /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$S/cni"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      Root = "$RUN_DIR/runc"
      SystemdCgroup = false
EOF
  # No ipMasq and no portmap: pods talk only to this host, and the host's iptables stay untouched.
  cat >"$S/cni/10-adr.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "adr-pods", "plugins": [
  {"type": "bridge", "bridge": "adr-cni0", "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET"}]], "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": "$RUN_DIR/ipam"}},
  {"type": "loopback"}]}
EOF
  # Kubernetes' default container restart back-off is kept on purpose: users' kubelets have it too.
  cat >"$S/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$SOCK
imageServiceEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
address: $NODE_IP
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
podLogsDir: $S/pod-logs
# As kubeadm, AKS and every managed cluster set it up: no anonymous access to the kubelet's API; callers are
# authenticated by token review or client certificate and authorized by the API server (SubjectAccessReview).
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $S/pki/ca.crt}}
authorization: {mode: Webhook}
# containerd 1.6 does not pin the sandbox image: keep image GC away from it.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
# A Secret's new value reaches a mounted volume at the pod's next sync: 10 s here instead of a minute, for the test
# that rotates the autoscaler's PAT (the autoscaler reads its token file again when it changes, whatever the period).
syncFrequency: 10s
EOF
}

# Pods on the node talk to each other over the CNI bridge (the autoscaler to a starting runner pod). A Docker engine
# on the same machine sets the FORWARD policy to DROP, and br_netfilter sends bridged frames through it: this one rule,
# removed by `down`, lets the bridge's own traffic through whatever else the host's firewall says.
POD_BRIDGE_RULE=(FORWARD -i adr-cni0 -o adr-cni0 -m comment --comment adr-cluster -j ACCEPT)
allow_pod_bridge() { ! command -v iptables >/dev/null || iptables -w -C "${POD_BRIDGE_RULE[@]}" 2>/dev/null || iptables -w -I "${POD_BRIDGE_RULE[@]}"; }
remove_pod_bridge_rule() { ! command -v iptables >/dev/null || while iptables -w -D "${POD_BRIDGE_RULE[@]}" 2>/dev/null; do :; done; }

# Paths the kubelet, CNI and ip-netns create whatever their configuration (device-plugins is a fixed kubelet path).
HOST_DIRS=(/var/log/containers /var/lib/cni /var/lib/kubelet /run/netns)

# What `down` must restore: remembered before `up` changes it.
remember_host() {
  mkdir -p "$S/found"
  cat /proc/sys/net/ipv4/ip_forward >"$S/found/ip_forward"
  for d in "${HOST_DIRS[@]}"; do if [ -e "$d" ]; then echo "$d"; fi; done >"$S/found/dirs"
}

running() { for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done; }

cmd_up() {
  "$here/build.sh" >&2
  if running && k get node "$NODE_NAME" >/dev/null 2>&1; then
    log "already running"; print_usage; return
  fi
  [ -d "$S" ] && { log "cleaning up a partial cluster first"; cmd_down; }
  pause_image
  mkdir -p "$S/pids" "$S/logs" "$RUN_DIR"
  remember_host
  pki
  write_configs
  node_network
  allow_pod_bridge
  local P=$S/pki B=$K8S_BIN

  start registry docker-registry serve "$S/registry.yml"
  start etcd "$B/etcd" --name adr --data-dir "$S/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls http://127.0.0.1:$((ETCD_PORT + 1)) --initial-advertise-peer-urls http://127.0.0.1:$((ETCD_PORT + 1)) \
    --initial-cluster adr=http://127.0.0.1:$((ETCD_PORT + 1))
  start containerd containerd --config "$S/containerd.toml"
  wait_for etcd 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"
  # --endpoint-reconciler-type=none lets the apiserver advertise 127.0.0.1: nothing writes it into Endpoints.
  start kube-apiserver "$B/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 --secure-port=6443 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none \
    --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
    --token-auth-file="$P/tokens.csv" --authorization-mode=AlwaysAllow --allow-privileged=true \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$P/sa.key" --service-account-signing-key-file="$P/sa.key" \
    --service-cluster-ip-range=10.96.0.0/24 --kubelet-preferred-address-types=InternalIP --profiling=false \
    "${KUBELET_CLIENT[@]}"
  wait_for containerd 30 containerd ctr --address "$SOCK" version
  ctr --address "$SOCK" -n k8s.io images import "$PAUSE_TAR" >/dev/null
  wait_for kube-apiserver 60 kube-apiserver k get --raw /readyz
  start kube-controller-manager "$B/kube-controller-manager" --kubeconfig="$S/controller-manager.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --service-account-private-key-file="$P/sa.key" \
    --root-ca-file="$P/ca.crt" --use-service-account-credentials=false --profiling=false
  start kube-scheduler "$B/kube-scheduler" --kubeconfig="$S/scheduler.kubeconfig" --leader-elect=false \
    --bind-address=127.0.0.1 --profiling=false
  start kubelet "$B/kubelet" --config="$S/kubelet.yaml" --kubeconfig="$S/kubelet.kubeconfig" \
    --root-dir="$S/kubelet" --cert-dir="$S/kubelet/pki" --hostname-override="$NODE_NAME" --node-ip="$NODE_IP"
  wait_for registry 20 registry curl -sf "http://$REGISTRY_ADDR/v2/"
  wait_for "node $NODE_NAME" 90 kubelet k wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
  wait_for "default ServiceAccount" 60 kube-controller-manager k get serviceaccount default
  wait_for "kube-root-ca.crt" 60 kube-controller-manager k get configmap kube-root-ca.crt
  print_usage
}

# A second API server on the same etcd, started on demand (`cluster.sh legacy`). It plays an older cluster: the
# container restart rules are off (as on Kubernetes 1.30-1.34, where the server drops those fields), and it enforces
# RBAC. It listens on the kubernetes Service's address (10.96.0.1:443, added to the node's host-side link), so it is
# also the API server that pods reach through KUBERNETES_SERVICE_HOST, as in-cluster clients do on a real cluster.
LEGACY_IP=10.96.0.1
cmd_legacy() {
  alive kube-apiserver || { log "the cluster is not running: cluster.sh up first"; exit 1; }
  if ! alive legacy-apiserver; then
    local P=$S/pki
    ip addr replace "$LEGACY_IP/32" dev adr-node-h
    start legacy-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
      --bind-address=$LEGACY_IP --secure-port=443 --advertise-address=$LEGACY_IP --endpoint-reconciler-type=none \
      --tls-cert-file="$P/apiserver.crt" --tls-private-key-file="$P/apiserver.key" --client-ca-file="$P/ca.crt" \
      --token-auth-file="$P/tokens.csv" --authorization-mode=RBAC --allow-privileged=true \
      --feature-gates=ContainerRestartRules=false,RestartAllContainersOnContainerExits=false \
      --service-account-issuer=https://kubernetes.default.svc.cluster.local \
      --service-account-key-file="$P/sa.key" --service-account-signing-key-file="$P/sa.key" \
      --service-cluster-ip-range=10.96.0.0/24 --kubelet-preferred-address-types=InternalIP --profiling=false \
      "${KUBELET_CLIENT[@]}"
    sed "s#https://127.0.0.1:6443#https://$LEGACY_IP:443#" "$ADMIN" >"$S/legacy.kubeconfig"
    chmod 600 "$S/legacy.kubeconfig"
  fi
  wait_for legacy-apiserver 60 legacy-apiserver "$KUBECTL" --kubeconfig "$S/legacy.kubeconfig" get --raw /readyz
  log "legacy: API server without container restart rules, with RBAC, on https://$LEGACY_IP:443"
  echo "LEGACY_KUBECONFIG=$S/legacy.kubeconfig"
}

# Stops the second API server alone (the local trial stops what it started); `down` stops it too.
cmd_legacy_down() {
  stop legacy-apiserver
  ip addr del "$LEGACY_IP/32" dev adr-node-h 2>/dev/null || true
  rm -f "$S/legacy.kubeconfig"
  log "legacy: stopped"
}

print_usage() {
  log "up: node $NODE_NAME Ready, registry on $REGISTRY_ADDR"
  log "use: export KUBECONFIG=$ADMIN; $KUBECTL get nodes"
  log "images: cluster.sh push <buildah-image> <name:tag>, then $REGISTRY_ADDR/<name:tag> with imagePullPolicy IfNotPresent"
}

# Stops a recorded process: TERM, then KILL after a grace period.
stop() {
  local p; p=$(pid_of "$1")
  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  rm -f "$S/pids/$1"
}

# Lets the kubelet tear pods down itself (CNI DEL, netns and volume unmounts) before anything is killed.
drain() {
  alive kube-apiserver && alive kubelet || return 0
  stop kube-controller-manager   # nothing recreates the deleted pods
  k delete pods --all --all-namespaces --grace-period=1 --wait=false >/dev/null 2>&1 || true
  local end=$((SECONDS + 40))
  while [ $SECONDS -lt $end ] && [ -n "$(k get pods -A -o name 2>/dev/null)" ]; do sleep 0.5; done
}

# Whatever the kubelet left (e.g. after it crashed): kill and remove containerd's tasks and their shims.
remove_containers() {
  alive containerd || return 0
  local c
  for c in $(ctr --address "$SOCK" -n k8s.io tasks ls -q 2>/dev/null); do
    ctr --address "$SOCK" -n k8s.io tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
  done
  sleep 1
  for c in $(ctr --address "$SOCK" -n k8s.io containers ls -q 2>/dev/null); do
    ctr --address "$SOCK" -n k8s.io tasks delete -f "$c" >/dev/null 2>&1 || true
  done
}

# Shims outlive containerd; ours are the ones started with our socket address.
kill_our_shims() {
  local p
  while read -r p; do
    kill -KILL "$p" 2>/dev/null || true
  done < <(grep -l -s -F -- "$SOCK" /proc/[0-9]*/cmdline | cut -d/ -f3)
}

unmount_under() {
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk '{print $5}' /proc/self/mountinfo | grep -E "^($1)" | sort -r)
}

remove_cgroups() {
  local root d
  for root in /sys/fs/cgroup/*/; do
    [ -d "$root/kubepods" ] || continue
    find "$root/kubepods" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
}

cmd_down() {
  [ -d "$S" ] || { log "not running"; return; }
  drain
  stop kubelet
  remove_containers
  stop containerd
  kill_our_shims
  local c
  for c in kube-scheduler kube-controller-manager legacy-apiserver kube-apiserver etcd registry; do stop "$c"; done
  unmount_under "$S/|$RUN_DIR/|/var/lib/kubelet/"
  remove_pod_bridge_rule
  ip link del adr-cni0 2>/dev/null || true
  ip link del adr-node-h 2>/dev/null || true
  ip netns del "$NODE_NETNS" 2>/dev/null || true
  remove_cgroups
  if [ -f "$S/found/ip_forward" ]; then cat "$S/found/ip_forward" >/proc/sys/net/ipv4/ip_forward; fi
  for c in "${HOST_DIRS[@]}"; do
    # `ip netns add` makes /run/netns a mount point of its own.
    if ! grep -qx "$c" "$S/found/dirs" 2>/dev/null; then umount "$c" 2>/dev/null || true; rm -rf "$c"; fi
  done
  rm -rf "$S" "$RUN_DIR"
  log "down: nothing left running"
}

# Exit status 0 when every component runs, 3 otherwise.
cmd_status() {
  local c rc=0
  for c in "${COMPONENTS[@]}"; do
    if alive "$c"; then echo "$c: running (pid $(pid_of "$c"))"; else echo "$c: stopped"; rc=3; fi
  done
  # Started on demand (`legacy`): reported, but the cluster runs without it.
  if alive legacy-apiserver; then echo "legacy-apiserver: running (pid $(pid_of legacy-apiserver))"; else echo "legacy-apiserver: stopped"; fi
  if alive kube-apiserver; then k get nodes -o wide 2>&1 || true; fi
  return $rc
}

# KEY=VALUE lines for tests/support/cluster.ts.
cmd_env() {
  echo "KUBECONFIG=$ADMIN"
  echo "REGISTRY=$REGISTRY_ADDR"
  echo "KUBECTL=$KUBECTL"
  echo "K8S_CACHE=$K8S_CACHE"
  echo "K8S_VERSION=$K8S_VERSION"
  echo "KUBELET_DIR=$S/kubelet"
}

# Pushes an image from our buildah storage to a registry (plain HTTP: the local one is on loopback).
# The destination is registry/name:tag, or just name:tag for the local registry.
cmd_push() {
  [ $# -eq 2 ] || { log "usage: cluster.sh push <buildah-image> [<registry>/]<name:tag>"; exit 2; }
  local dest=$2
  case ${dest%%/*} in *[.:]*) ;; *) dest=$REGISTRY_ADDR/$dest ;; esac
  buildah "${BUILDAH_OPTS[@]}" push -q --tls-verify=false "$1" "docker://$dest"
}

# One `up` or `down` at a time (e2e files, the benchmark and CI may call them back to back).
if [ "${1:-}" = up ] || [ "${1:-}" = down ] || [ "${1:-}" = legacy ] || [ "${1:-}" = legacy-down ]; then
  mkdir -p "$ADR_CACHE"
  exec 8>"$ADR_CACHE/.cluster.lock"
  flock 8
fi

case ${1:-} in
  build) "$here/build.sh" ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  legacy) cmd_legacy ;;
  legacy-down) cmd_legacy_down ;;
  push) shift; cmd_push "$@" ;;
  buildah) shift; exec buildah "${BUILDAH_OPTS[@]}" "$@" ;;
  *) echo "usage: $0 build|up|down|status|env|legacy|legacy-down|push <buildah-image> [<registry>/]<name:tag>|buildah <args...>" >&2; exit 2 ;;
esac
