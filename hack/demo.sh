#!/usr/bin/env bash
# make demo: on a fresh Debian machine (root), bring up the local two-node
# cluster, build and import the images, install the chart with a filesystem
# repository (DEMO_REPO=s3, make demo REPO=s3: a real S3 server, hack/demo-s3.sh), deploy annotated
# sample apps, back them up and describe the backup. Safe to run again: the
# cluster and the release are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
source hack/cluster/env.sh
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Installing Debian packages"
hack/install-deps.sh
step "Building quiesce and helm"
make -s build helm
step "Bringing up the cluster (a cold run builds Kubernetes first)"
make -s cluster-up
step "Building and importing images"
make -s images

export KUBECONFIG=$KUBECONFIG_OUT
KUBECTL=$(ls -d "$CACHE"/k8s/*/bin/kubectl 2>/dev/null | tail -n1)
KUBECTL=${KUBECTL:-kubectl}
REPO_PATH=/var/lib/quiesce/repository
PASSWORD=demo-password

# The repository: a path on the nodes, or (REPO=s3) a bucket of a real S3
# server over TLS, its CA in a ConfigMap.
repo_flags=(--set repository.filesystem.path=$REPO_PATH)
repo_cli=(--repo "$REPO_PATH")
where="$REPO_PATH on the nodes"
if [ "${DEMO_REPO:-filesystem}" = s3 ]; then
  step "Starting the S3 server (SeaweedFS over TLS on $HOST_IP; a cold make weed builds it first)"
  eval "$(hack/demo-s3.sh)"
  "$KUBECTL" create namespace quiesce --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
  "$KUBECTL" -n quiesce create configmap demo-s3-ca --from-file=ca.crt="$S3_CA" --dry-run=client -o yaml | "$KUBECTL" apply -f - >/dev/null
  repo_flags=(--set repository.type=s3 --set repository.s3.endpoint=$S3_ENDPOINT --set repository.s3.bucket=$S3_BUCKET
    --set repository.s3.prefix=demo/ --set repository.s3.accessKeyID=$S3_ACCESS_KEY --set repository.s3.secretAccessKey=$S3_SECRET_KEY
    --set repository.s3.ca.configMap=demo-s3-ca)
  repo_cli=(--s3-endpoint "$S3_ENDPOINT" --s3-bucket "$S3_BUCKET" --s3-prefix demo/ --s3-ca-file "$S3_CA")
  export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
  where="s3://$S3_BUCKET/demo/ at $S3_ENDPOINT"
fi

step "Installing the chart (namespace quiesce, repository $where)"
# helm installs crds/ only on first install; apply them so a rerun gets the current schema.
"$KUBECTL" apply --server-side --force-conflicts -f charts/quiesce/crds/ >/dev/null
bin/helm upgrade --install quiesce charts/quiesce --namespace quiesce --create-namespace --wait --timeout 5m \
  --set repository.password=$PASSWORD "${repo_flags[@]}" --set image.pullPolicy=Never \
  --set coordinator.schedules[0].name=nightly --set 'coordinator.schedules[0].schedule=0 2 * * *' \
  --set-json 'coordinator.schedules[0].template={"includedNamespaces":["demo"],"ttl":"720h"}'
# The image tag stays :dev across rebuilds: restart the agents onto the new one.
"$KUBECTL" -n quiesce rollout restart ds/quiesce-agent >/dev/null
"$KUBECTL" -n quiesce rollout status ds/quiesce-agent --timeout=3m
"$KUBECTL" -n quiesce get pods -o wide -l app.kubernetes.io/component=agent

step "Deploying the annotated sample apps (examples/demo/apps.yaml)"
bin/quiesce hooks lint -f examples/demo/apps.yaml -f examples/demo/backup.yaml
"$KUBECTL" apply -f examples/demo/apps.yaml
"$KUBECTL" -n demo wait --for=condition=Ready pod --all --timeout=3m
"$KUBECTL" -n demo get pods -o wide

name=demo-$(date -u +%Y%m%d%H%M%S)
step "Backing up: the Velero Backup manifest examples/demo/backup.yaml, as $name"
bin/quiesce backup create "$name" -n quiesce -f examples/demo/backup.yaml --wait

step "quiesce backup describe $name --details"
bin/quiesce backup describe "$name" -n quiesce --details

step "The order the three-container pod's hooks ran in (demo/shop-0:/shared/order)"
"$KUBECTL" -n demo exec shop-0 -c api -- cat /shared/order

step "The consistency group 'orders' across node-a and node-b: freeze ascending, thaw descending"
for p in queue-0:paused-at queue-0:resumed-at ledger-0:frozen-at ledger-0:thawed-at; do
  printf '%-20s %s\n' "$p" "$("$KUBECTL" -n demo exec "${p%%:*}" -- cat "/data/${p#*:}")"
done

step "quiesce backup logs $name (from the repository)"
QUIESCE_REPO_PASSWORD=$PASSWORD bin/quiesce backup logs "$name" "${repo_cli[@]}" --cache-dir "$CACHE/demo-kopia-${DEMO_REPO:-filesystem}" | head -60

step "Restoring namespace demo into demo-restored from $name, while demo runs"
# A rerun starts from an empty target: existing objects would be left alone.
"$KUBECTL" delete namespace demo-restored --ignore-not-found --wait --timeout=3m >/dev/null
bin/quiesce restore create "$name-copy" -n quiesce --from-backup "$name" --namespace-mappings demo:demo-restored --wait || true
bin/quiesce restore describe "$name-copy" -n quiesce
"$KUBECTL" -n demo-restored get pods -o wide

step "Done"
echo "Cluster: KUBECONFIG=$KUBECONFIG_OUT   Backups: bin/quiesce backup get -n quiesce   Remove: make cluster-down"
