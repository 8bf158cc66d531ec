#!/usr/bin/env bash
# Writes tools/k8s/go.mod for a Kubernetes release: it requires
# k8s.io/kubernetes VERSION and pins every staging module k8s.io/X (the
# replace list of that release's own go.mod) to the matching v0.MINOR.PATCH,
# then resolves go.sum with `go mod tidy` (in that module only).
#   hack/cluster/gen-tools-mod.sh v1.34.1 [DIR]
set -euo pipefail
version=${1:?usage: gen-tools-mod.sh vMAJOR.MINOR.PATCH [DIR]}
dir=${2:-$(cd "$(dirname "$0")/../.." && pwd)/tools/k8s}
modfile=$(go mod download -json "k8s.io/kubernetes@$version" | awk -F'"' '$2=="GoMod" {print $4}')
[ -f "$modfile" ] || { echo "gen-tools-mod.sh: k8s.io/kubernetes@$version: go.mod not found" >&2; exit 1; }
staging=$(sed -n '/^replace (/,/^)/p' "$modfile" | awk '$2=="=>" && $3 ~ /^\.\/staging\// {print $1}')
mkdir -p "$dir"
repo_tools=$(cd "$(dirname "$0")/../.." && pwd)/tools/k8s/tools.go
[ -f "$dir/tools.go" ] || cp "$repo_tools" "$dir/"   # the imports tidy keeps
{
  echo "// Module k8s builds the upstream Kubernetes binaries the e2e cluster runs."
  echo "// It is separate from the main module so k8s.io/kubernetes and its pins never"
  echo "// touch quiesce's own dependency graph. Regenerate with hack/cluster/gen-tools-mod.sh."
  echo "module github.com/quiesce-dev/quiesce/tools/k8s"
  echo
  echo "go $(awk '$1=="go" {print $2; exit}' "$modfile")"
  echo
  echo "require k8s.io/kubernetes $version"
  echo
  echo "replace ("
  for m in $staging; do printf '\t%s => %s v0.%s\n' "$m" "$m" "${version#v1.}"; done
  echo ")"
} >"$dir/go.mod"
rm -f "$dir/go.sum"
(cd "$dir" && go mod tidy)
echo "$dir/go.mod: k8s.io/kubernetes $version, $(echo "$staging" | wc -w) staging modules pinned"
