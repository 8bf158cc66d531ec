#!/usr/bin/env bash
# Builds the local Go build image the Dockerfile's build stage uses here (no
# registry): the host's Go toolchain (/usr/local/go) on the local busybox
# image, committed to buildah's store as docker.io/library/golang:local.
#   hack/images/golang.sh [IMAGE_NAME]
# A second run with the same Go version is a no-op.
set -euo pipefail
name=${1:-docker.io/library/golang:local}
goroot=$(go env GOROOT)
gover=$(go env GOVERSION)
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
b() { buildah --storage-driver vfs "$@"; }
if [ "$(b inspect --type image --format '{{index .ImageAnnotations "dev.quiesce.go-version"}}' "$name" 2>/dev/null)" = "$gover" ]; then
  echo "$name ($gover): up to date"; exit 0
fi
base=docker.io/library/busybox:local
if ! b inspect --type image "$base" >/dev/null 2>&1; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  "$(dirname "$0")/busybox.sh" "$tmp/busybox.tar" "$base" >/dev/null
fi
ctr=$(b from --pull=false "$base")
b copy "$ctr" "$goroot" /usr/local/go >/dev/null
[ -f /etc/ssl/certs/ca-certificates.crt ] && b copy "$ctr" /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt >/dev/null
b run "$ctr" -- mkdir -p /go /tmp
b config --env PATH=/go/bin:/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin --env GOPATH=/go \
  --env GOTOOLCHAIN=local --workingdir /go --annotation "dev.quiesce.go-version=$gover" "$ctr"
b commit -q "$ctr" "$name" >/dev/null
b rm "$ctr" >/dev/null
echo "$name ($gover): built"
