#!/usr/bin/env bash
# Brings up the local two-node cluster (see env.sh for the layout) and waits
# until both nodes are Ready and a smoke pod with an emptyDir runs on each.
# Idempotent: a healthy running cluster is reused; a broken or partial one is
# torn down (down.sh) and rebuilt. Needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
t0=$(date +%s)
mkdir -p "$STATE" && exec 9>"$STATE/.lock" && flock 9   # one up/down at a time
export QE2E_LOCKED=1   # down.sh, run from here, must not wait for our lock
[ "$(id -u)" = 0 ] || die "up.sh needs root (network namespaces, mounts, containerd)"
BIN=$("$REPO/hack/cluster/build-k8s.sh")
export PATH=$BIN:$PATH
kc() { kubectl --kubeconfig "$STATE/pki/admin.kubeconfig" "$@"; }
alive() { [ -f "$STATE/run/$1.pid" ] && kill -0 "$(cat "$STATE/run/$1.pid")" 2>/dev/null; }
# until_ok SECONDS WHAT CMD...: bounded wait for a condition, naming it on timeout.
until_ok() {
  local limit=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$limit" ] || die "timed out waiting for $what (logs: $STATE/logs)"
    sleep 0.5
  done
}
# daemon NAME CMD...: starts CMD detached, logs to $STATE/logs/NAME.log.
daemon() {
  local name=$1; shift
  setsid "$@" >"$STATE/logs/$name.log" 2>&1 </dev/null 9>&- &
  echo $! >"$STATE/run/$name.pid"
}

healthy() {
  local d
  for d in etcd kube-apiserver kube-controller-manager kube-scheduler; do alive "$d" || return 1; done
  for n in "${NODES[@]}"; do for d in containerd kubelet kube-proxy; do alive "$d-$n" || return 1; done; done
  kc get --raw /readyz >/dev/null 2>&1
}

network() {
  ip link add "$BRIDGE" type bridge
  ip addr add "$HOST_IP/$NET_PREFIX" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for n in "${NODES[@]}"; do
    local ns; ns=$(netns "$n")
    ip netns add "$ns"
    ip link add "${VETH[$n]}" type veth peer name eth0 netns "$ns"
    ip link set "${VETH[$n]}" master "$BRIDGE" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "${NODE_IP[$n]}/$NET_PREFIX" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$HOST_IP"
    for m in "${NODES[@]}"; do
      [ "$m" = "$n" ] || ip -n "$ns" route add "${POD_CIDR[$m]}" via "${NODE_IP[$m]}"
    done
    # Per-netns sysctls: the node routes its pods' traffic; the host does not
    # forward (its ip_forward stays as it is), it only answers the pods.
    nsenter --net="/run/netns/$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0
    ip route add "${POD_CIDR[$n]}" via "${NODE_IP[$n]}"
  done
}

control_plane() {
  local p=$STATE/pki
  # Progress notifications every second: Debian's etcd 3.4 cannot answer
  # the API server's on-demand progress requests, so a watch cache of a
  # quiet resource (NodeRestores) lagged the store, and every watch "from
  # now" failed after 3s ("Too large resource version"): clients polled.
  daemon etcd etcd --name qe2e --data-dir "$STATE/etcd" \
    --listen-client-urls "http://$HOST_IP:2379" --advertise-client-urls "http://$HOST_IP:2379" \
    --listen-peer-urls "http://$HOST_IP:2380" --initial-advertise-peer-urls "http://$HOST_IP:2380" \
    --initial-cluster "qe2e=http://$HOST_IP:2380" --experimental-watch-progress-notify-interval 1s
  daemon kube-apiserver kube-apiserver --etcd-servers "http://$HOST_IP:2379" \
    --bind-address "$HOST_IP" --advertise-address "$HOST_IP" --secure-port 6443 \
    --service-cluster-ip-range "$SERVICE_CIDR" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" --client-ca-file "$p/ca.crt" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --allow-privileged \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP
  until_ok 120 "kube-apiserver /readyz" kc get --raw /readyz
  daemon kube-controller-manager kube-controller-manager --kubeconfig "$p/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$p/controller-manager.kubeconfig" --authorization-kubeconfig "$p/controller-manager.kubeconfig" \
    --bind-address "$HOST_IP" --leader-elect=false --use-service-account-credentials \
    --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$CLUSTER_CIDR"
  daemon kube-scheduler kube-scheduler --kubeconfig "$p/scheduler.kubeconfig" \
    --authentication-kubeconfig "$p/scheduler.kubeconfig" --authorization-kubeconfig "$p/scheduler.kubeconfig" \
    --bind-address "$HOST_IP" --leader-elect=false
}

node_up() {
  local n=$1 r; r=$(noderoot "$n")
  local p=$STATE/pki
  mkdir -p "$r"/{kubelet,run/containerd,containerd,log/pods,log/containers,cni/net.d,cni/lib,netns,etc}
  # The node's mount namespace: the standard paths, bound to its own dirs.
  touch "$(mntns "$n")"
  unshare --mount="$(mntns "$n")" --propagation slave true
  local -A binds=([kubelet]=/var/lib/kubelet [run/containerd]=/run/containerd [containerd]=/var/lib/containerd
    [log/pods]=/var/log/pods [log/containers]=/var/log/containers [cni/net.d]=/etc/cni/net.d
    [cni/lib]=/var/lib/cni [netns]=/run/netns)
  local src
  for src in "${!binds[@]}"; do
    mkdir -p "${binds[$src]}"   # the mount point on the host; stays empty there
    nsenter --mount="$(mntns "$n")" mount --bind "$r/$src" "${binds[$src]}"
  done
  # Volume mounts made by the kubelet must reach containerd's containers.
  nsenter --mount="$(mntns "$n")" mount --make-rshared /var/lib/kubelet
  cat >"$r/cni/net.d/10-qe2e.conflist" <<JSON
{"cniVersion": "0.4.0", "name": "qe2e", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "${POD_CIDR[$n]}"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
JSON
  cat >"$r/etc/containerd.toml" <<TOML
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
TOML
  cat >"$r/etc/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${NODE_IP[$n]}
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $p/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $p/kubelet-$n.crt
tlsPrivateKeyFile: $p/kubelet-$n.key
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
failCgroupV1: false   # this VM is cgroup v1 (field since v1.31; default true from v1.35)
# No registry: imported images must never be garbage-collected.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%}
YAML
  cat >"$r/etc/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $p/kube-proxy.kubeconfig}
hostnameOverride: $n
bindAddress: ${NODE_IP[$n]}
clusterCIDR: $CLUSTER_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Leave the conntrack sysctls alone (some are host-wide).
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
YAML
  local enter=(nsenter --mount="$(mntns "$n")" --net="/run/netns/$(netns "$n")" --)
  daemon "containerd-$n" "${enter[@]}" containerd --config "$r/etc/containerd.toml"
  until_ok 30 "containerd of $n" ctr --address "$(sock "$n")" version
  import_images "$n"
  daemon "kubelet-$n" "${enter[@]}" kubelet --config "$r/etc/kubelet.yaml" \
    --kubeconfig "$p/kubelet-$n.kubeconfig" --hostname-override "$n" --node-ip "${NODE_IP[$n]}"
  daemon "kube-proxy-$n" "${enter[@]}" kube-proxy --config "$r/etc/kube-proxy.yaml"
}

import_images() {
  local f
  for f in "$CACHE"/images/*.tar; do
    ctr --address "$(sock "$1")" -n k8s.io images import "$f" >/dev/null || die "import $f into $1"
  done
}

smoke() {
  kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: qe2e-smoke}
YAML
  until_ok 60 "service account qe2e-smoke/default" kc -n qe2e-smoke get serviceaccount default
  for n in "${NODES[@]}"; do
    kc apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: smoke-$n, namespace: qe2e-smoke}
spec:
  nodeSelector: {kubernetes.io/hostname: $n}
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: $BUSYBOX_IMAGE
    imagePullPolicy: Never
    command: [sh, -c, 'echo $n > /data/node && exec sleep 2147483647']
    volumeMounts: [{name: data, mountPath: /data}]
    readinessProbe:
      exec: {command: [cat, /data/node]}
      periodSeconds: 1
  volumes: [{name: data, emptyDir: {}}]
YAML
  done
  kc -n qe2e-smoke wait --for=condition=Ready pod --all --timeout=120s >/dev/null ||
    { kc -n qe2e-smoke get pods -o wide >&2; die "smoke pods not Ready"; }
}

mkdir -p "$STATE"/{run,logs,ns} "$CACHE/images"
if healthy; then
  log "cluster already running: reusing it"
else
  "$here/down.sh" >/dev/null 2>&1 || true
  mkdir -p "$STATE"/{run,logs,ns}
  [ -f "$CACHE/images/pause.tar" ] || "$REPO/hack/images/pause.sh" "$CACHE/images/pause.tar" "$PAUSE_IMAGE" >/dev/null
  [ -f "$CACHE/images/busybox.tar" ] || "$REPO/hack/images/busybox.sh" "$CACHE/images/busybox.tar" "$BUSYBOX_IMAGE" >/dev/null
  "$here/certs.sh"
  # A private mount for the per-node mount namespace files (like ip netns).
  mountpoint -q "$STATE/ns" || mount --bind "$STATE/ns" "$STATE/ns"
  mount --make-private "$STATE/ns"
  network
  control_plane
  for n in "${NODES[@]}"; do node_up "$n"; done
  for n in "${NODES[@]}"; do
    until_ok 120 "node $n registered" kc get node "$n"
  done
  kc wait --for=condition=Ready node --all --timeout=180s >/dev/null || die "nodes not Ready"
fi
cp "$STATE/pki/admin.kubeconfig" "$KUBECONFIG_OUT"
smoke
log "cluster up in $(( $(date +%s) - t0 ))s: nodes ${NODES[*]} Ready, smoke pods running"
echo "KUBECONFIG=$KUBECONFIG_OUT"
echo "kubectl: $BIN/kubectl"
