#!/bin/sh
# MariaDB 10.11 entrypoint (image built by hack/images/dbimage.sh). Like the
# official image: the data directory /var/lib/mysql is the volume,
# initialised at first start; MARIADB_ROOT_PASSWORD (required) is root's
# network password, MARIADB_DATABASE, MARIADB_USER and MARIADB_PASSWORD create
# an application database and user. The container's own user (mysql) is
# an administrator over the local socket without password (unix_socket), which
# is what hooks use. Arguments go to mariadbd.
set -eu
datadir=/var/lib/mysql
if [ ! -d "$datadir/mysql" ]; then
  if [ -z "${MARIADB_ROOT_PASSWORD:-}" ]; then
    echo "docker-entrypoint: $datadir is empty: set MARIADB_ROOT_PASSWORD to initialise it" >&2
    exit 1
  fi
  # Not --user: it chowns the data directory, which a non-root server may
  # not do on a volume the kubelet gave it (owned by root, group fsGroup);
  # the socket administrator is the container's user all the same.
  mariadb-install-db --auth-root-socket-user="$(id -un)" --datadir="$datadir" --skip-test-db --auth-root-authentication-method=socket >/tmp/init.log 2>&1 ||
    { cat /tmp/init.log >&2; exit 1; }
  mariadbd --datadir="$datadir" --skip-networking --socket=/tmp/init.sock >>/tmp/init.log 2>&1 &
  pid=$!
  until mariadb-admin --socket=/tmp/init.sock ping >/dev/null 2>&1; do sleep 0.2; done
  {
    printf "CREATE USER 'root'@'%%' IDENTIFIED BY '%s'; GRANT ALL ON *.* TO 'root'@'%%' WITH GRANT OPTION;\n" "$MARIADB_ROOT_PASSWORD"
    [ -z "${MARIADB_DATABASE:-}" ] || printf 'CREATE DATABASE IF NOT EXISTS `%s`;\n' "$MARIADB_DATABASE"
    if [ -n "${MARIADB_USER:-}" ]; then
      printf "CREATE USER '%s'@'%%' IDENTIFIED BY '%s';\n" "$MARIADB_USER" "${MARIADB_PASSWORD:-}"
      [ -z "${MARIADB_DATABASE:-}" ] || printf "GRANT ALL ON \`%s\`.* TO '%s'@'%%';\n" "$MARIADB_DATABASE" "$MARIADB_USER"
    fi
  } | mariadb --socket=/tmp/init.sock
  mariadb-admin --socket=/tmp/init.sock shutdown
  wait "$pid" || true
  echo "docker-entrypoint: initialised $datadir"
fi
exec mariadbd --datadir="$datadir" "$@"
