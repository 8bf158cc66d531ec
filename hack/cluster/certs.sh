#!/usr/bin/env bash
# Generates the cluster CA, serving and client certificates, the service
# account key pair and the kubeconfigs under $STATE/pki (openssl). Idempotent:
# existing files are kept.
set -euo pipefail
. "$(dirname "$0")/env.sh"
pki=$STATE/pki
mkdir -p "$pki" "$(dirname "$KUBECONFIG_OUT")"
cd "$pki"
command -v openssl >/dev/null || die "openssl missing: apt-get install openssl (hack/install-deps.sh)"
key() { [ -f "$1.key" ] || openssl genrsa -out "$1.key" 2048 2>/dev/null; }
if [ ! -f ca.crt ]; then
  key ca
  openssl req -x509 -new -key ca.key -days 3650 -subj /CN=quiesce-e2e-ca -out ca.crt 2>/dev/null
fi
# cert NAME SUBJECT [SAN]: a CA-signed client (and, with SAN, serving) certificate.
cert() {
  local name=$1 subj=$2 san=${3:-}
  [ -f "$name.crt" ] && return
  key "$name"
  local ext; ext=$(mktemp)
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$san" ]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"
    else echo "extendedKeyUsage=clientAuth"; fi
  } >"$ext"
  openssl req -new -key "$name.key" -subj "$subj" 2>/dev/null |
    openssl x509 -req -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile "$ext" -out "$name.crt" 2>/dev/null
  rm -f "$ext"
}
cert apiserver /CN=kube-apiserver "IP:$HOST_IP,IP:$SERVICE_IP,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
cert admin "/O=system:masters/CN=kubernetes-admin"
cert controller-manager /CN=system:kube-controller-manager
cert scheduler /CN=system:kube-scheduler
cert kube-proxy /CN=system:kube-proxy
for n in "${NODES[@]}"; do cert "kubelet-$n" "/O=system:nodes/CN=system:node:$n" "IP:${NODE_IP[$n]},DNS:$n"; done
if [ ! -f sa.key ]; then
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
fi
# kubeconfig NAME USER: a kubeconfig with the certificates embedded.
kubeconfig() {
  local out=$1.kubeconfig
  cat >"$out" <<KC
apiVersion: v1
kind: Config
clusters:
- name: quiesce-e2e
  cluster:
    server: $API
    certificate-authority-data: $(base64 -w0 ca.crt)
users:
- name: $2
  user:
    client-certificate-data: $(base64 -w0 "$1.crt")
    client-key-data: $(base64 -w0 "$1.key")
contexts:
- name: quiesce-e2e
  context: {cluster: quiesce-e2e, user: $2}
current-context: quiesce-e2e
KC
}
kubeconfig admin kubernetes-admin
kubeconfig controller-manager system:kube-controller-manager
kubeconfig scheduler system:kube-scheduler
kubeconfig kube-proxy system:kube-proxy
for n in "${NODES[@]}"; do kubeconfig "kubelet-$n" "system:node:$n"; done
cp admin.kubeconfig "$KUBECONFIG_OUT"
