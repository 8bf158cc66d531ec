package staging

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A changed file deleted for real while the capture reads the volume is
// left out of the staged copy, as a direct backup leaves it out: keeping
// the previous capture's copy of it would mix two points in time.
func TestVanishedFileLeavesNoOldCopy(t *testing.T) {
	src := filepath.Join(t.TempDir(), "vol")
	stg := filepath.Join(t.TempDir(), "staging")
	randomFile(t, filepath.Join(src, "a"), 1<<20, 1)
	randomFile(t, filepath.Join(src, "b"), 1<<20, 2)
	captureOK(t, src, stg)
	rewritePages(t, filepath.Join(src, "a"), 3)
	rewritePages(t, filepath.Join(src, "b"), 5)
	defer func() { testFault = func(string, string) error { return nil } }()
	testFault = func(step, rel string) error {
		if step == "read" && rel == "b" {
			return os.Remove(filepath.Join(src, "b")) // the open that follows fails with a real ENOENT
		}
		return nil
	}
	c, err := Capture(t.Context(), src, stg, Options{Parallel: 1})
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, digest(t, src), digest(t, c.Dir))
}

// The staging filesystem fills up (a real 128 MiB tmpfs, filled by another
// writer after the capture checked the free space): the capture fails with
// ENOSPC, the previous copy stays complete and unchanged, and once there is
// room the next capture succeeds.
func TestStagingFilesystemFills(t *testing.T) {
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=128m"); err != nil {
		t.Skipf("no tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, 0) })
	src := filepath.Join(t.TempDir(), "vol")
	stg := filepath.Join(mnt, "staging")
	randomFile(t, filepath.Join(src, "a"), 4<<20, 1)
	randomFile(t, filepath.Join(src, "b"), 4<<20, 2)
	captureOK(t, src, stg)
	if err := Prepare(t.Context(), stg); err != nil {
		t.Fatal(err)
	}
	before := digest(t, filepath.Join(stg, dataDir))
	for p := int64(0); p < 64; p++ {
		rewritePages(t, filepath.Join(src, "a"), p*8)
		rewritePages(t, filepath.Join(src, "b"), p*8+1)
	}
	filler := filepath.Join(mnt, "filler")
	defer func() { testFault = func(string, string) error { return nil } }()
	testFault = func(step, rel string) error {
		if step == "read" && rel == "b" {
			f, err := os.Create(filler)
			if err != nil {
				return err
			}
			defer f.Close()
			buf := make([]byte, 1<<20)
			for {
				if _, err := f.Write(buf); err != nil {
					return nil // full: the capture's own writes fail from here on
				}
			}
		}
		return nil
	}
	_, err := Capture(t.Context(), src, stg, Options{Parallel: 1, ReserveBytes: 1})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("want ENOSPC, got %v", err)
	}
	if _, err := Check(stg); err != nil {
		t.Fatalf("the previous copy is not usable: %v", err)
	}
	assertSame(t, before, digest(t, filepath.Join(stg, dataDir)))
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testFault = func(string, string) error { return nil }
	captureOK(t, src, stg)
}
