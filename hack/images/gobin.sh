#!/usr/bin/env bash
# Builds an image holding one static Go binary of this module (on an empty
# base) with buildah and writes it as an OCI archive.
#   hack/images/gobin.sh PACKAGE IMAGE_NAME OUT.tar
# e.g. hack/images/gobin.sh ./e2e/incluster docker.io/quiesce/e2e-incluster:local out.tar
set -euo pipefail
pkg=${1:?usage: gobin.sh PACKAGE IMAGE_NAME OUT.tar}; name=${2:?}; out=${3:?}
root=$(cd "$(dirname "$0")/../.." && pwd)
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bin=$(basename "$pkg")
(cd "$root" && CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$tmp/$bin" "$pkg")
ctr=$(buildah --storage-driver vfs from scratch)
buildah --storage-driver vfs copy "$ctr" "$tmp/$bin" "/$bin" >/dev/null
buildah --storage-driver vfs config --entrypoint "[\"/$bin\"]" --cmd '[]' --user 65532:65532 "$ctr"
buildah --storage-driver vfs commit -q "$ctr" "$name" >/dev/null
buildah --storage-driver vfs rm "$ctr" >/dev/null
rm -f "$out"
buildah --storage-driver vfs push -q "$name" "oci-archive:$out:$name"
echo "$out: $name"
