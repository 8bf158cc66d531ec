//go:build tools

// Package deps pins the project's direct dependencies in go.mod while the
// packages that use them are being written; `go mod tidy` honours build tags.
package deps

import (
	_ "github.com/containerd/containerd/v2/client"
	_ "github.com/kopia/kopia/fs/localfs"
	_ "github.com/kopia/kopia/repo"
	_ "github.com/kopia/kopia/snapshot/snapshotfs"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "go.uber.org/zap"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/cri-api/pkg/apis/runtime/v1"
	_ "sigs.k8s.io/controller-runtime/pkg/client"
	_ "sigs.k8s.io/yaml"
)
