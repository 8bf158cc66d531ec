package hook_test

import (
	"os/exec"
	"strings"
	"testing"
)

// hook is the pure model of values: YAML documents and their nodes (lines,
// duplicate keys) belong to hook/lint, so the model does not pull in the
// YAML node library.
func TestNoYAMLNodeImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/quiesce-dev/quiesce/hook").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "go.yaml.in/yaml/v3" || dep == "gopkg.in/yaml.v3" || strings.HasPrefix(dep, "github.com/quiesce-dev/quiesce/hook/") {
			t.Errorf("package hook depends on %s", dep)
		}
	}
}
