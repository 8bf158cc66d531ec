#!/usr/bin/env bash
# Builds the pod sandbox image (hack/images/pause, a static Go binary) with
# buildah and writes it as an OCI archive.
#   hack/images/pause.sh OUT.tar [IMAGE_NAME]
# IMAGE_NAME defaults to docker.io/quiesce/pause:local (containerd's sandbox_image).
set -euo pipefail
out=${1:?usage: pause.sh OUT.tar [IMAGE_NAME]}
name=${2:-docker.io/quiesce/pause:local}
here=$(cd "$(dirname "$0")" && pwd)
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$here/../.." && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/pause" ./hack/images/pause)
ctr=$(buildah --storage-driver vfs from scratch)
buildah --storage-driver vfs copy "$ctr" "$tmp/pause" /pause >/dev/null
buildah --storage-driver vfs config --entrypoint '["/pause"]' --cmd '[]' --user 65535:65535 "$ctr"
buildah --storage-driver vfs commit -q "$ctr" "$name" >/dev/null
buildah --storage-driver vfs rm "$ctr" >/dev/null
rm -f "$out"
buildah --storage-driver vfs push -q "$name" "oci-archive:$out:$name"
echo "$out: $name"
