//go:build tools

// Package tools pins the helm CLI used to lint, template and install the
// chart (make helm), built from the module proxy since no release binary
// can be downloaded here.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
