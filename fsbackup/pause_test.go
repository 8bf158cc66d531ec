package fsbackup

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// An upload held by Pause reads nothing until let go, then completes a
// snapshot that restores byte for byte.
func TestBackupPausesItsReads(t *testing.T) {
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	e, _ := newEngine(t)
	gate := make(chan struct{})
	var calls, held atomic.Int64
	pause := func(ctx context.Context) error {
		calls.Add(1)
		select {
		case <-gate:
			return nil
		default:
		}
		held.Add(1)
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	done := make(chan error, 1)
	var res Result
	go func() {
		var err error
		res, err = e.Backup(t.Context(), src, BackupOptions{Source: testSource, Pause: pause})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the backup finished while its reads were held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if held.Load() == 0 {
		t.Fatal("no read waited in Pause")
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if calls.Load() < 2 {
		t.Fatalf("Pause called %d times: want one per read of every file", calls.Load())
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := e.Restore(t.Context(), res.SnapshotID, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := diffDigest(treeDigest(t, src), treeDigest(t, dst)); d != "" {
		t.Fatalf("restored tree differs:\n%s", d)
	}
}

// A backup cancelled while held saves nothing.
func TestBackupCancelledWhilePausedSavesNothing(t *testing.T) {
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	e, _ := newEngine(t)
	ctx, cancel := context.WithCancel(t.Context())
	pause := func(ctx context.Context) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	}
	_, err := e.Backup(ctx, src, BackupOptions{Source: testSource, Pause: pause})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
	if snaps, _ := e.Snapshots(t.Context(), nil); len(snaps) != 0 {
		t.Fatalf("a cancelled backup saved a snapshot: %+v", snaps)
	}
}
