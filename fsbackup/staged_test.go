package fsbackup

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/quiesce-dev/quiesce/fsbackup/staging"
)

func TestStagedCaptureThenUpload(t *testing.T) {
	e, _ := newEngine(t)
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	stg := filepath.Join(t.TempDir(), "staging")
	if _, err := Capture(t.Context(), src, stg, staging.Options{}); err != nil {
		t.Fatal(err)
	}
	first, err := e.Upload(t.Context(), stg, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	// A direct backup of the live volume is incremental to the staged one:
	// same source, same metadata.
	direct, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
	if err != nil || direct.PreviousID != first.SnapshotID || direct.BytesHashed != 0 {
		t.Fatalf("direct after staged: %v %+v", err, direct)
	}
	writeFile(t, filepath.Join(src, "a", "small.txt"), []byte("changed"), 0o644)
	if c, err := Capture(t.Context(), src, stg, staging.Options{}); err != nil || c.CopiedFiles != 1 {
		t.Fatalf("second capture: %v %+v", err, c)
	}
	second, err := e.Upload(t.Context(), stg, BackupOptions{Source: testSource})
	if err != nil || second.BytesHashed != int64(len("changed")) {
		t.Fatalf("second upload: %v %+v", err, second)
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := e.Restore(t.Context(), second.SnapshotID, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := diffDigest(treeDigest(t, src), treeDigest(t, dst)); d != "" {
		t.Fatalf("restored staged snapshot differs from the volume:\n%s", d)
	}
	// An interrupted capture is never uploaded.
	if err := os.WriteFile(filepath.Join(stg, "INCOMPLETE"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Upload(t.Context(), stg, BackupOptions{Source: testSource}); !errors.Is(err, staging.ErrIncomplete) {
		t.Fatalf("upload of an incomplete staged copy: %v", err)
	}
}
