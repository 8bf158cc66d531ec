//go:build tools

// Package tools pins controller-gen, which generates quiesce's CRD schemas
// and deepcopy functions (make generate).
package tools

import _ "sigs.k8s.io/controller-tools/cmd/controller-gen"
