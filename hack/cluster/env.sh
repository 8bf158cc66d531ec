# Shared settings of the local e2e cluster (sourced by up.sh, down.sh, images.sh).
# Addresses are all inside 198.18.0.0/15 (RFC 2544 benchmarking space):
#   198.18.240.0/24  node network: bridge qe2e0 in the host netns = 198.18.240.1
#                    (etcd, kube-apiserver, controller-manager, scheduler bind there)
#   198.18.240.2/.3  node-a / node-b, each in its own netns (veth into qe2e0)
#   198.19.241.0/24, 198.19.242.0/24  pod CIDRs of node-a / node-b (cluster 198.19.240.0/20)
#   198.18.128.0/20  Service CIDR (kubernetes Service = 198.18.128.1)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${QUIESCE_E2E_STATE:-/var/lib/quiesce-e2e}   # certs, per-node roots, logs, pids
CACHE=$REPO/.cache
KUBECONFIG_OUT=$CACHE/cluster/admin.kubeconfig
BRIDGE=qe2e0
HOST_IP=198.18.240.1
NET_PREFIX=24
SERVICE_CIDR=198.18.128.0/20
SERVICE_IP=198.18.128.1
CLUSTER_CIDR=198.19.240.0/20
NODES=(node-a node-b)
declare -A NODE_IP=([node-a]=198.18.240.2 [node-b]=198.18.240.3)
declare -A POD_CIDR=([node-a]=198.19.241.0/24 [node-b]=198.19.242.0/24)
declare -A VETH=([node-a]=qe2e-a [node-b]=qe2e-b)
PAUSE_IMAGE=docker.io/quiesce/pause:local
BUSYBOX_IMAGE=docker.io/library/busybox:local
API=https://$HOST_IP:6443
netns() { echo "qe2e-$1"; }                 # network namespace of a node
mntns() { echo "$STATE/ns/$1.mnt"; }        # persistent mount namespace of a node
noderoot() { echo "$STATE/nodes/$1"; }      # host dir behind the node's standard paths
sock() { echo "$(noderoot "$1")/run/containerd/containerd.sock"; } # its containerd socket, seen from the host
log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
