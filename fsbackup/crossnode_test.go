package fsbackup

import (
	"context"
	"path/filepath"
	"testing"
)

// An agent opens the repository once and keeps it open; a restore may need
// a snapshot another node's agent wrote after that. Restore must see it.
func TestRestoreSeesSnapshotsWrittenByAnotherConnection(t *testing.T) {
	ctx := t.Context()
	a, cfg := newEngine(t) // node-a's long-lived connection, opened first
	cfgB := testConfig(t, cfg.Path)
	cfgB.Client = "test@node-b"
	b, err := Connect(ctx, cfgB)
	if err != nil {
		t.Fatalf("connect node-b: %v", err)
	}
	defer b.Close(context.WithoutCancel(ctx))
	src := t.TempDir()
	makeTree(t, src)
	res, err := b.Backup(ctx, src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := a.Restore(ctx, res.SnapshotID, out, RestoreOptions{}); err != nil {
		t.Fatalf("restore on node-a of node-b's snapshot: %v", err)
	}
	if d := diffDigest(treeDigest(t, src), treeDigest(t, out)); d != "" {
		t.Errorf("restored tree differs:\n%s", d)
	}
}

// A pod rescheduled to another node: that node's agent backs up the same
// source incrementally to the snapshot the first node's agent wrote.
func TestBackupIsIncrementalToAnotherConnectionsSnapshot(t *testing.T) {
	ctx := t.Context()
	a, cfg := newEngine(t)
	cfgB := testConfig(t, cfg.Path)
	cfgB.Client = "test@node-b"
	b, err := Connect(ctx, cfgB)
	if err != nil {
		t.Fatalf("connect node-b: %v", err)
	}
	defer b.Close(context.WithoutCancel(ctx))
	src := t.TempDir()
	makeTree(t, src)
	first, err := b.Backup(ctx, src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.Backup(ctx, src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	if second.PreviousID != first.SnapshotID || second.BytesUploaded >= first.BytesUploaded/2 {
		t.Errorf("node-a's backup: previous %q (want node-b's %q), uploaded %d bytes (node-b's full backup: %d)",
			second.PreviousID, first.SnapshotID, second.BytesUploaded, first.BytesUploaded)
	}
}
