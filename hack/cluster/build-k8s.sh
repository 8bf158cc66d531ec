#!/usr/bin/env bash
# Builds the Kubernetes binaries the e2e cluster runs from tools/k8s (a module
# of its own) into .cache/k8s/<version>/bin. A second run with the same version
# and go.sum is a no-op (stamp file), so only the first run pays the cold build.
#   hack/cluster/build-k8s.sh            # prints the bin directory
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
mod=${K8S_TOOLS_DIR:-$root/tools/k8s}   # another version: hack/cluster/gen-tools-mod.sh
version=$(awk '$1=="require" && $2=="k8s.io/kubernetes" {print $3}' "$mod/go.mod")
[ -n "$version" ] || { echo "build-k8s.sh: no 'require k8s.io/kubernetes vX' line in $mod/go.mod" >&2; exit 1; }
out=$root/.cache/k8s/$version/bin
stamp=$out/.stamp
want="$version $(sha256sum "$mod/go.sum" | cut -c1-16) $(go env GOVERSION)"
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "$out"; exit 0
fi
minor=${version#v1.}; minor=${minor%%.*}
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
mkdir -p "$out"
start=$(date +%s)
pkgs=(); for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
echo "build-k8s.sh: building ${cmds[*]} $version (cold: ~6-9 min on 2 cores)" >&2
(cd "$mod" && CGO_ENABLED=0 nice -n 10 go build -trimpath -tags providerless -ldflags "$ldflags" -o "$out/" "${pkgs[@]}")
echo "$want" >"$stamp"
echo "build-k8s.sh: built in $(( $(date +%s) - start ))s" >&2
echo "$out"
