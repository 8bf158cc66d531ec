package cri_test

import (
	"os/exec"
	"strings"
	"testing"
)

// cri is the boundary: it must not pull in containerd or cri-api, so that
// packages using it (and their fakes) stay free of them.
func TestNoRuntimeImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/quiesce-dev/quiesce/cri").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/containerd/") || strings.HasPrefix(dep, "k8s.io/cri-api") || strings.HasPrefix(dep, "google.golang.org/grpc") {
			t.Errorf("package cri depends on %s", dep)
		}
	}
}
