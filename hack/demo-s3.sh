#!/usr/bin/env bash
# make demo REPO=s3: a real S3 server for the demo's repository. SeaweedFS
# (make weed) serves S3 over TLS on the nodes' bridge address, where the
# pods reach it, with a CA made here, one access key and the bucket "demo".
# Its state is under .cache/demo-s3 and it keeps running after the demo
# (stop it: pkill -f .cache/demo-s3). Prints the settings as shell
# assignments (S3_ENDPOINT, S3_BUCKET, S3_CA, S3_ACCESS_KEY, S3_SECRET_KEY).
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/cluster/env.sh
dir=$CACHE/demo-s3
weed=$CACHE/seaweedfs/weed
make -s weed >&2
mkdir -p "$dir/data"
access=quiesce-demo secret=demo-secret-key
if [ ! -s "$dir/cert.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj /CN=quiesce-demo-s3-ca -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=s3.demo \
    -keyout "$dir/key.pem" -out "$dir/cert.csr" 2>/dev/null
  openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 3650 \
    -extfile <(printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$HOST_IP") -out "$dir/cert.pem" 2>/dev/null
fi
cat >"$dir/identities.json" <<EOF
{"identities": [{"name": "quiesce", "credentials": [{"accessKey": "$access", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF
if ! pgrep -f "weed server .*-dir=$dir/data" >/dev/null; then
  # Ports of their own (weed's defaults would meet the tests' servers).
  setsid "$weed" server -ip="$HOST_IP" -ip.bind="$HOST_IP" -dir="$dir/data" \
    -master.port=19330 -master.port.grpc=29330 -master.telemetry=false -master.volumeSizeLimitMB=256 \
    -volume.port=19331 -volume.port.grpc=29331 -volume.max=32 \
    -filer -filer.port=19332 -filer.port.grpc=29332 -filer.localSocket="$dir/filer.sock" \
    -s3 -s3.port=19334 -s3.port.grpc=29334 -s3.port.iceberg=0 -s3.port.lance=0 -s3.localSocket="$dir/s3.sock" \
    -s3.config="$dir/identities.json" -s3.cert.file="$dir/cert.pem" -s3.key.file="$dir/key.pem" \
    </dev/null >>"$dir/weed.log" 2>&1 &
fi
# Up when the bucket can be created (the master elects itself, the volume
# server registers, the filer connects): ~30 s on 2 cores.
for _ in $(seq 120); do
  code=$(curl -sS --cacert "$dir/ca.pem" -o /dev/null -w '%{http_code}' "https://$HOST_IP:19334/" 2>/dev/null || true)
  # A master restarted on the data of one that died freezes volume growth
  # until told the inventory is fine: it is (one node, its own data).
  out=$(printf 'lock\nvolume.growth.resume\nunlock\ns3.bucket.create -name demo\n' |
    timeout 20 "$weed" shell -master="$HOST_IP:19330" 2>&1 || true)
  if [ "${code:-000}" != 000 ] && { ! grep -qi "error\|fail\|refused" <<<"$out" || grep -qi "exist" <<<"$out"; }; then
    cat <<EOF
S3_ENDPOINT=$HOST_IP:19334
S3_BUCKET=demo
S3_CA=$dir/ca.pem
S3_ACCESS_KEY=$access
S3_SECRET_KEY=$secret
EOF
    exit 0
  fi
  sleep 1
done
echo "demo-s3.sh: SeaweedFS did not come up on $HOST_IP:19334 (log: $dir/weed.log)" >&2
exit 1
