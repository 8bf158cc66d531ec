#!/usr/bin/env bash
# Builds the Velero server/node-agent image and its AWS plugin image from the
# binaries `make velero-bins` writes (tools/velero), FROM scratch with
# buildah (no image can be pulled here), and writes them as OCI archives.
#   hack/images/velero.sh BIN_DIR OUT_DIR
# The names are the ones `velero install` uses by default for v1.18.3 and the
# plugin v1.14.3, so rendered manifests need no image rewrites and Velero's
# restore-helper init container (it reuses the server's image) is found.
set -euo pipefail
bin=${1:?usage: velero.sh BIN_DIR OUT_DIR}; out=${2:?}
VELERO_IMAGE=${VELERO_IMAGE:-docker.io/velero/velero:v1.18.3}
PLUGIN_IMAGE=${PLUGIN_IMAGE:-docker.io/velero/velero-plugin-for-aws:v1.14.3}
B="buildah --storage-driver vfs"
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# Velero: the one binary is the server, the CLI and the node-agent; the
# helpers are where Velero's own image keeps them (/). Upstream runs as cnb
# with HOME /home/cnb (kopia's cache lives under it); the node-agent needs
# root to read /host_pods, and install's manifests do not set a user.
root=$tmp/velero
mkdir -p "$root"/{tmp,home/cnb,root,etc}
chmod 1777 "$root/tmp" "$root/home/cnb"
cp "$bin/velero" "$bin/velero-helper" "$bin/velero-restore-helper" "$root/"
printf 'root:x:0:0:root:/root:/sbin/nologin\ncnb:x:1000:1000:cnb:/home/cnb:/sbin/nologin\n' >"$root/etc/passwd"
printf 'root:x:0:\ncnb:x:1000:\n' >"$root/etc/group"
ctr=$($B from scratch)
$B copy "$ctr" "$root/" / >/dev/null
$B config --entrypoint '["/velero"]' --cmd '[]' --env HOME=/home/cnb --env PATH=/ "$ctr"
$B commit -q "$ctr" "$VELERO_IMAGE" >/dev/null
$B rm "$ctr" >/dev/null
rm -f "$out/velero.tar"
$B push -q "$VELERO_IMAGE" "oci-archive:$out/velero.tar:$VELERO_IMAGE"
echo "$out/velero.tar: $VELERO_IMAGE"

# The plugin image: an init container copies the plugin into /target (the
# server's plugins emptyDir), as upstream's image does with cp-plugin.
root=$tmp/plugin
mkdir -p "$root"/{plugins,bin}
cp "$bin/velero-plugin-for-aws" "$root/plugins/"
cp "$bin/cp-plugin" "$root/bin/"
ctr=$($B from scratch)
$B copy "$ctr" "$root/" / >/dev/null
$B config --entrypoint '["/bin/cp-plugin", "/plugins/velero-plugin-for-aws", "/target/velero-plugin-for-aws"]' \
  --cmd '[]' --user 65532:65532 --env PATH=/bin "$ctr"
$B commit -q "$ctr" "$PLUGIN_IMAGE" >/dev/null
$B rm "$ctr" >/dev/null
rm -f "$out/velero-plugin-for-aws.tar"
$B push -q "$PLUGIN_IMAGE" "oci-archive:$out/velero-plugin-for-aws.tar:$PLUGIN_IMAGE"
echo "$out/velero-plugin-for-aws.tar: $PLUGIN_IMAGE"
