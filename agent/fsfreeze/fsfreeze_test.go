package fsfreeze_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/agent/fsfreeze"
	"github.com/quiesce-dev/quiesce/internal/testenv"
)

// A directory of the filesystem its parent is on is refused: freezing it
// would freeze the whole filesystem (an emptyDir freezes the node's disk).
func TestCheckRefusesADirectoryOfASharedFilesystem(t *testing.T) {
	dir := t.TempDir()
	err := fsfreeze.FS{}.Check(dir)
	if !errors.Is(err, fsfreeze.ErrSharedFilesystem) {
		t.Fatalf("Check(%s) = %v, want ErrSharedFilesystem", dir, err)
	}
}

// loopFS mounts a fresh ext4 filesystem from a file and returns its mount
// point.
func loopFS(t *testing.T) string {
	t.Helper()
	testenv.Integration(t, "mkfs.ext4", "mount", "umount")
	img := filepath.Join(t.TempDir(), "fs.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 64<<20); err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	for _, cmd := range [][]string{{"mkfs.ext4", "-q", "-F", img}, {"mount", "-o", "loop", img, mnt}} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
	}
	t.Cleanup(func() {
		_ = fsfreeze.FS{}.Thaw(mnt) // never leave it frozen
		_ = exec.Command("umount", mnt).Run()
	})
	return mnt
}

// On a real filesystem: a write blocks while it is frozen and completes
// once thawed; freezing and thawing twice are not errors; a guard on the
// same filesystem refuses it.
func TestFreezeBlocksWritesUntilThaw(t *testing.T) {
	mnt := loopFS(t)
	if err := (fsfreeze.FS{Guard: []string{filepath.Join(mnt, "lost+found")}}).Check(mnt); !errors.Is(err, fsfreeze.ErrSharedFilesystem) {
		t.Fatalf("Check with a guard on the same filesystem = %v, want ErrSharedFilesystem", err)
	}
	fs := fsfreeze.FS{Guard: []string{"/"}}
	for range 2 {
		if err := fs.Freeze(mnt); err != nil {
			t.Fatalf("Freeze: %v", err)
		}
	}
	// The write runs in a child process: a blocked write cannot be
	// cancelled, and the test must not hang on it.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	w := exec.CommandContext(ctx, "sh", "-c", "echo data > "+filepath.Join(mnt, "f")+" && sync "+filepath.Join(mnt, "f"))
	done := make(chan error, 1)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- w.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("the write finished while the filesystem was frozen (%v)", err)
	case <-time.After(time.Second):
	}
	for range 2 {
		if err := fs.Thaw(mnt); err != nil {
			t.Fatalf("Thaw: %v", err)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("the write after the thaw: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "f")); err != nil || string(b) != "data\n" {
		t.Fatalf("written file = %q, %v", b, err)
	}
}
