//go:build tools

// Package tools pins Velero (server, CLI and node-agent are one binary, plus
// its two helpers), the Velero AWS object-store plugin and the plugin's copy
// helper, for `make bench-velero`: quiesce measured side by side with Velero
// on the same cluster. Built from the module proxy (no release binary or
// image can be downloaded here) in a module of its own, so Velero's
// dependencies (kopia fork, Kubernetes v0.33) stay out of quiesce's go.mod.
package tools

import (
	_ "github.com/vmware-tanzu/velero-plugin-for-aws/hack/cp-plugin"
	_ "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws"
	_ "github.com/vmware-tanzu/velero/cmd/velero"
	_ "github.com/vmware-tanzu/velero/cmd/velero-helper"
	_ "github.com/vmware-tanzu/velero/cmd/velero-restore-helper"
)
