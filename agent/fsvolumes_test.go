package agent

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// TestFullStagingLeavesNoPartialCopy: a capture that fills its staging
// area (a 256 KiB tmpfs here) fails saying so, with the fix, and removes
// its half copy, which would only take room from other pods' captures.
func TestFullStagingLeavesNoPartialCopy(t *testing.T) {
	if os.Getenv("QUIESCE_INTEGRATION") == "" || os.Geteuid() != 0 {
		t.Skip("mounts a tmpfs: set QUIESCE_INTEGRATION=1 and run as root")
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "big"), bytes.Repeat([]byte("x"), 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	staging := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", staging).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", staging).Run() })
	f := &FSVolumes{StagingRoot: staging, Log: zap.NewNop()}
	pod := &api.PodAssignment{Namespace: "ns", Name: "p", UID: "uid-1",
		Volumes: []api.VolumeAssignment{{Name: "data", Source: "emptydir/data", HostPath: src}}}
	res, err := f.Capture(t.Context(), BackupRef{Name: "b"}, pod, true)
	if err == nil {
		t.Fatal("a 1 MiB capture into 256 KiB succeeded")
	}
	if !strings.Contains(err.Error(), "staging area "+staging+" is full") || !strings.Contains(err.Error(), "agent.stateDir") {
		t.Errorf("error %q: want the full staging area named, with the fix", err)
	}
	if len(res) != 1 || res[0].Error == "" {
		t.Errorf("result %+v: want the volume's error", res)
	}
	if ents, _ := os.ReadDir(staging); len(ents) != 0 {
		t.Errorf("staging keeps %d entries after a failed capture", len(ents))
	}
}
