#!/usr/bin/env bash
# Imports every OCI archive in .cache/images (or the ones given) into the
# containerd of every running node, under the names they were built with.
set -euo pipefail
. "$(dirname "$0")/env.sh"
files=("$@"); ((${#files[@]})) || files=("$CACHE"/images/*.tar)
for n in "${NODES[@]}"; do
  if [ ! -S "$(sock "$n")" ]; then log "node $n not running: images will be imported by cluster-up"; continue; fi
  for f in "${files[@]}"; do
    ctr --address "$(sock "$n")" -n k8s.io images import "$f" >/dev/null || die "import $f into node $n"
  done
  log "node $n: imported ${files[*]##*/}"
done
