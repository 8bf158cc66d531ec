#!/bin/sh
# PostgreSQL 15 entrypoint (image built by hack/images/dbimage.sh). Like the
# official image: PGDATA on the volume (default /var/lib/postgresql/data/pgdata,
# a subdirectory so the mount point's owner and lost+found don't matter),
# initialised at first start with POSTGRES_USER (default postgres),
# POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust) and
# POSTGRES_DB; local socket connections are trusted (hooks run psql in the
# container), network ones need the password. Arguments go to postgres
# (e.g. -c shared_buffers=256MB).
set -eu
: "${PGDATA:=/var/lib/postgresql/data/pgdata}" "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=$POSTGRES_USER}"
export PGDATA
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    echo "docker-entrypoint: PGDATA $PGDATA is empty: set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust) to initialise it" >&2
    exit 1
  fi
  mkdir -p "$PGDATA" && chmod 0700 "$PGDATA"
  pw=$(mktemp) && printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pw"
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pw" --auth-local=trust --auth-host="$auth" \
    --encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pw"
  printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
  printf 'host all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    postgres -D "$PGDATA" -c listen_addresses= -c unix_socket_directories=/tmp -k /tmp >/tmp/init.log 2>&1 &
    pid=$!
    until pg_isready -q -h /tmp; do sleep 0.2; done
    psql -h /tmp -U "$POSTGRES_USER" -d postgres -v ON_ERROR_STOP=1 -q -c "CREATE DATABASE \"$POSTGRES_DB\""
    kill -INT "$pid" && wait "$pid" || true
  fi
  echo "docker-entrypoint: initialised $PGDATA (database $POSTGRES_DB, user $POSTGRES_USER)"
fi
exec postgres -D "$PGDATA" "$@"
