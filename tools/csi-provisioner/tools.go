//go:build tools

// Package tools pins the Kubernetes CSI external-provisioner that the local
// e2e cluster's test CSI driver (hack/csi) runs behind. It is a module of
// its own so the provisioner's dependencies never touch quiesce's.
package tools

import _ "github.com/kubernetes-csi/external-provisioner/v5/cmd/csi-provisioner"
