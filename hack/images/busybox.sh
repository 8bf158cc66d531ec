#!/usr/bin/env bash
# Builds a busybox OCI image from Debian's busybox-static with buildah (no
# registry needed) and writes it as an OCI archive.
#   hack/images/busybox.sh OUT.tar [IMAGE_NAME]
# IMAGE_NAME defaults to docker.io/library/busybox:local.
set -euo pipefail
out=${1:?usage: busybox.sh OUT.tar [IMAGE_NAME]}
name=${2:-docker.io/library/busybox:local}
bb=/bin/busybox
[ -x "$bb" ] || { echo "busybox.sh: $bb missing: apt-get install busybox-static" >&2; exit 1; }
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,tmp,etc,root,var,proc,sys,dev}
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list-full); do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -sf /bin/busybox "$root/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
ctr=$(buildah --storage-driver vfs from scratch)
buildah --storage-driver vfs copy "$ctr" "$root/" / >/dev/null
buildah --storage-driver vfs config --cmd '["/bin/sh"]' --env PATH=/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
buildah --storage-driver vfs commit -q "$ctr" "$name" >/dev/null
buildah --storage-driver vfs rm "$ctr" >/dev/null
rm -f "$out"
buildah --storage-driver vfs push -q "$name" "oci-archive:$out:$name"
echo "$out: $name"
