#!/usr/bin/env bash
# Builds a database server image (PostgreSQL 15, MariaDB 10.11 or Redis 7)
# from Debian packages, offline from any container registry: mmdebstrap
# makes a rootfs tarball with the packages listed in db/NAME.packages (from
# this machine's apt sources), buildah turns it into an image (FROM scratch +
# the rootfs) with db/NAME-entrypoint.sh, and writes it as an OCI archive.
#   hack/images/dbimage.sh NAME OUT.tar [IMAGE_NAME]
# IMAGE_NAME defaults to docker.io/quiesce/NAME:local. Cached: the build is
# skipped when OUT.tar exists and OUT.tar.stamp holds the hash of this
# script, the package list and the entrypoint (delete the stamp to force).
set -euo pipefail
db=${1:?usage: dbimage.sh postgres|mariadb|redis OUT.tar [IMAGE_NAME]}
out=${2:?}
name=${3:-docker.io/quiesce/$db:local}
here=$(cd "$(dirname "$0")" && pwd)
pkgs=$here/db/$db.packages entry=$here/db/$db-entrypoint.sh
[ -f "$pkgs" ] && [ -f "$entry" ] || { echo "dbimage.sh: unknown database $db (no $pkgs or $entry)" >&2; exit 2; }
for b in mmdebstrap buildah; do
  command -v "$b" >/dev/null || { echo "dbimage.sh: $b missing: run hack/install-deps.sh" >&2; exit 1; }
done
sources=${DBIMAGE_APT_SOURCES:-/etc/apt/sources.list.d/debian.sources}
[ -f "$sources" ] || sources=/etc/apt/sources.list
stamp=$(cat "$0" "$pkgs" "$entry" "$sources" | sha256sum | cut -d' ' -f1)
if [ -f "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "$out: $name (cached)"; exit 0
fi
# The image's user: the one its package creates (postgres, mysql, redis),
# and the server's socket directory, which systemd's tmpfiles would create
# on a host: the server runs as that user and cannot create it under /run
# (kept: mmdebstrap empties /run last unless told not to; we empty it first).
case $db in
  postgres) user=postgres rundir=/run/postgresql ;;
  mariadb) user=mysql rundir=/run/mysqld ;;
  redis) user=redis rundir=/run/redis ;;
esac
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
# essential + the servers: no apt, no docs, manuals or locales. The packages'
# own first cluster/data directory is removed: the entrypoint initialises
# one on the volume at first start, like the official images.
mmdebstrap --quiet --variant=essential --include="$(grep -v '^#' "$pkgs" | xargs | tr ' ' ,)" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook='rm -rf "$1"/var/lib/postgresql/15/main "$1"/etc/postgresql/15/main "$1"/var/lib/mysql/* "$1"/var/lib/redis/*' \
  --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
  --skip=cleanup/run --customize-hook='rm -rf "$1"/run/*' \
  --customize-hook="chroot \"\$1\" install -d -o $user -g $user -m 2775 $rundir" \
  --customize-hook="upload $entry /usr/local/bin/docker-entrypoint.sh" \
  --customize-hook='chmod 0755 "$1"/usr/local/bin/docker-entrypoint.sh' \
  bookworm "$tmp/rootfs.tar" "$sources"
ids=$(tar -xOf "$tmp/rootfs.tar" ./etc/passwd | awk -F: -v u="$user" '$1 == u {print $3 ":" $4}')
[ -n "$ids" ] || { echo "dbimage.sh: user $user not in the rootfs" >&2; exit 1; }
ctr=$(buildah --storage-driver vfs from scratch)
buildah --storage-driver vfs add "$ctr" "$tmp/rootfs.tar" / >/dev/null
cfg=(--entrypoint '["/usr/local/bin/docker-entrypoint.sh"]' --cmd '[]' --user "$ids"
  --env PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --env LANG=C.UTF-8
  --label org.opencontainers.image.title="$db" --label dev.quiesce.build-stamp="$stamp")
case $db in
  postgres) cfg+=(--env PGDATA=/var/lib/postgresql/data/pgdata --volume /var/lib/postgresql/data --port 5432) ;;
  mariadb) cfg+=(--volume /var/lib/mysql --port 3306) ;;
  redis) cfg+=(--workingdir /data --volume /data --port 6379) ;;
esac
buildah --storage-driver vfs config "${cfg[@]}" "$ctr"
buildah --storage-driver vfs commit -q "$ctr" "$name" >/dev/null
buildah --storage-driver vfs rm "$ctr" >/dev/null
mkdir -p "$(dirname "$out")"
rm -f "$out" "$out.stamp"
buildah --storage-driver vfs push -q "$name" "oci-archive:$out:$name"
echo "$stamp" >"$out.stamp"
echo "$out: $name (user $user $ids, $(du -h "$out" | cut -f1), $(($(date +%s) - start)) s)"
