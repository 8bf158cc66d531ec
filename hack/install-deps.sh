#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need. Idempotent.
set -euo pipefail
pkgs=(containerd runc busybox-static buildah etcd-server containernetworking-plugins iproute2 util-linux iptables conntrack restic openssl ca-certificates mmdebstrap)
# The local database proof (make test-consistency-local) also needs the servers:
# postgresql-15 mariadb-server redis-server (not installed here: CI does not run it yet).
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
