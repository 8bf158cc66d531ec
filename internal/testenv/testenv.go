// Package testenv starts real components for integration tests: a
// containerd with runc (StartContainerd), with pods created through the CRI
// the way kubelet creates them.
package testenv

import (
	"github.com/quiesce-dev/quiesce/internal/testenv/reporoot"
	"os"
	"os/exec"
	"testing"
)

// IntegrationEnv is the variable that turns integration tests on.
const IntegrationEnv = "QUIESCE_INTEGRATION"

// Integration skips t unless QUIESCE_INTEGRATION=1, and fails it when the
// variable is set but a prerequisite (root, the named binaries) is missing:
// CI must never skip silently.
func Integration(t testing.TB, binaries ...string) {
	t.Helper()
	if os.Getenv(IntegrationEnv) != "1" {
		t.Skipf("integration test: set %s=1 (as root) to run it", IntegrationEnv)
	}
	if err := Prerequisites(binaries...); err != nil {
		t.Fatal(err)
	}
}

// Prerequisites reports what is missing to run integration tests.
func Prerequisites(binaries ...string) error {
	if os.Geteuid() != 0 {
		return errf("integration tests need root (they start containerd and runc); run them with sudo or unset %s", IntegrationEnv)
	}
	for _, b := range binaries {
		if _, err := exec.LookPath(b); err != nil {
			return errf("integration tests need %q in PATH: run hack/install-deps.sh", b)
		}
	}
	return nil
}

// RepoRoot is the directory holding go.mod, found from the working
// directory (a test runs in its package's directory).
func RepoRoot() (string, error) { return reporoot.Find() }
