#!/usr/bin/env bash
# Tears the local cluster down and leaves nothing behind: processes (daemons,
# shims, containers), mount namespaces and their mounts, network namespaces,
# veths, the bridge and host routes. Keeps $STATE/pki (certificates) so the
# next bring-up skips key generation. Safe to run when nothing is up.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
[ "$(id -u)" = 0 ] || die "down.sh needs root"
[ -n "${QE2E_LOCKED:-}" ] || { mkdir -p "$STATE" && exec 9>"$STATE/.lock" && flock 9; }   # one up/down at a time
# running PID: true while PID exists and is not a zombie (the daemons' parent
# is init, which may reap late).
running() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ "$st" != Z ]; }
# stop NAME: SIGTERM, then SIGKILL after 10 s, of a daemon started by up.sh.
stop() {
  local f=$STATE/run/$1.pid pid t0=$SECONDS
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if running "$pid"; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do running "$pid" || break; sleep 0.1; done
    running "$pid" && { log "$1 (pid $pid) ignored SIGTERM for 10s: SIGKILL"; kill -9 "$pid" 2>/dev/null; }
  fi
  rm -f "$f"
  ((SECONDS - t0 < 3)) || log "$1 took $((SECONDS - t0))s to stop"
}
nsinode() { stat -L -c %i "$1" 2>/dev/null; }
# sweep N: SIGKILL every process left in node N's mount or network namespace or
# in one of its pods' network namespaces (shims, containers).
sweep() {
  local n=$1 want=() f pid i
  i=$(nsinode "$(mntns "$n")") && [ -n "$i" ] && want+=("mnt:[$i]")
  i=$(nsinode "/run/netns/$(netns "$n")") && [ -n "$i" ] && want+=("net:[$i]")
  if [ -f "$(mntns "$n")" ]; then
    for i in $(nsenter --mount="$(mntns "$n")" sh -c 'for f in /run/netns/*; do [ -e "$f" ] && stat -L -c %i "$f"; done' 2>/dev/null); do
      want+=("net:[$i]")
    done
  fi
  ((${#want[@]})) || return 0
  for _ in 1 2 3; do
    local hit=0
    for f in /proc/[0-9]*; do
      pid=${f#/proc/}
      [ "$pid" = $$ ] && continue
      for ns in mnt net; do
        local l; l=$(readlink "$f/ns/$ns" 2>/dev/null) || continue
        for w in "${want[@]}"; do [ "$l" = "$w" ] && { kill -9 "$pid" 2>/dev/null; hit=1; }; done
      done
    done
    ((hit)) || break
    sleep 0.5
  done
}
for n in "${NODES[@]}"; do
  stop "kubelet-$n"; stop "kube-proxy-$n"
  if [ -S "$(sock "$n")" ] && command -v ctr >/dev/null; then
    for t in $(timeout 10 ctr --address "$(sock "$n")" -n k8s.io tasks ls -q 2>/dev/null); do
      timeout 10 ctr --address "$(sock "$n")" -n k8s.io tasks kill -s SIGKILL "$t" >/dev/null 2>&1
    done
  fi
  stop "containerd-$n"
  sweep "$n"
done
for d in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop "$d"; done
for n in "${NODES[@]}"; do
  f=$(mntns "$n")
  if [ -f "$f" ]; then umount "$f" 2>/dev/null; rm -f "$f"; fi
  ip route del "${POD_CIDR[$n]}" 2>/dev/null
  ip link del "${VETH[$n]}" 2>/dev/null
  ip netns del "$(netns "$n")" 2>/dev/null
done
ip link del "$BRIDGE" 2>/dev/null
mountpoint -q "$STATE/ns" && umount "$STATE/ns"
# Container rootfs and volume mounts died with the node mount namespaces; only
# data is left. Keep the certificates.
if grep -q " $STATE/" /proc/self/mounts; then
  die "mounts under $STATE are still present (see /proc/self/mounts); not deleting"
fi
rm -rf "$STATE/nodes" "$STATE/etcd" "$STATE/run" "$STATE/ns"
log "cluster down"
