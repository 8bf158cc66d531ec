// Package e2e holds the end-to-end tests that run on the local two-node
// cluster (hack/cluster, e2e/README.md). They run only with QUIESCE_E2E=1
// (make test-e2e sets it), as root.
package e2e

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

var (
	upOnce sync.Once
	shared *cluster.Cluster
	upErr  error
)

// env returns the running cluster, bringing it up on first use (up.sh reuses
// a healthy one). Without QUIESCE_E2E=1 the test is skipped.
func env(t *testing.T) *cluster.Cluster {
	t.Helper()
	if os.Getenv("QUIESCE_E2E") != "1" {
		t.Skip("e2e: set QUIESCE_E2E=1 (make test-e2e) to run on the local cluster")
	}
	upOnce.Do(func() {
		// A cold bring-up builds the Kubernetes binaries first (see e2e/README.md).
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
		defer cancel()
		shared, upErr = cluster.Up(ctx)
	})
	if upErr != nil {
		t.Fatalf("e2e cluster: %v", upErr)
	}
	return shared
}
