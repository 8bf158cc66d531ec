#!/bin/sh
# Redis 7 entrypoint (image built by hack/images/dbimage.sh). Like the
# official image: the working directory /data is the volume (dump.rdb and,
# with --appendonly yes, appendonlydir/); REDIS_PASSWORD, when set, becomes
# requirepass (hooks then pass it as REDISCLI_AUTH). Arguments go to
# redis-server after these defaults.
set -eu
set -- --dir /data --bind '* -::*' --protected-mode no --daemonize no "$@"
[ -z "${REDIS_PASSWORD:-}" ] || set -- "$@" --requirepass "$REDIS_PASSWORD"
exec redis-server "$@"
