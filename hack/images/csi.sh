#!/usr/bin/env bash
# TEST INFRASTRUCTURE: builds the e2e cluster's test CSI driver image (no
# registry needed): the driver (hack/csi/quiesce-csi, this module) and the
# upstream external-provisioner (tools/csi-provisioner, a module of its own)
# as static binaries on an empty base, written as an OCI archive.
#   hack/images/csi.sh OUT.tar [IMAGE_NAME]
# IMAGE_NAME defaults to docker.io/quiesce/quiesce-csi:local. The
# provisioner is cached under .cache/csi-provisioner/<go.sum hash> (a cold
# build is ~4-8 min on 2 busy cores, like any client-go program).
set -euo pipefail
out=${1:?usage: csi.sh OUT.tar [IMAGE_NAME]}
name=${2:-docker.io/quiesce/quiesce-csi:local}
root=$(cd "$(dirname "$0")/../.." && pwd)
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prov=$root/.cache/csi-provisioner/$(cat "$root/tools/csi-provisioner/go.mod" "$root/tools/csi-provisioner/go.sum" | sha256sum | cut -c1-16)/csi-provisioner
if [ ! -x "$prov" ]; then
  mkdir -p "$(dirname "$prov")"
  start=$(date +%s)
  (cd "$root/tools/csi-provisioner" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags '-s -w' -o "$prov.tmp" \
    github.com/kubernetes-csi/external-provisioner/v5/cmd/csi-provisioner)
  mv "$prov.tmp" "$prov"
  echo "csi.sh: csi-provisioner built in $(( $(date +%s) - start ))s" >&2
fi
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/quiesce-csi" ./hack/csi/quiesce-csi)
cp "$prov" "$tmp/csi-provisioner"
ctr=$(buildah --storage-driver vfs from scratch)
buildah --storage-driver vfs copy "$ctr" "$tmp/quiesce-csi" "$tmp/csi-provisioner" / >/dev/null
buildah --storage-driver vfs config --entrypoint '["/quiesce-csi"]' --cmd '[]' "$ctr"
buildah --storage-driver vfs commit -q "$ctr" "$name" >/dev/null
buildah --storage-driver vfs rm "$ctr" >/dev/null
mkdir -p "$(dirname "$out")"
rm -f "$out"
buildah --storage-driver vfs push -q "$name" "oci-archive:$out:$name"
echo "$out: $name"
