package staging

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func write(t *testing.T, p, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func volume(t *testing.T) string {
	src := filepath.Join(t.TempDir(), "vol")
	old := time.Date(2024, 3, 1, 12, 0, 0, 5, time.UTC)
	write(t, filepath.Join(src, "db", "base.dat"), strings.Repeat("x", 100000), 0o600)
	write(t, filepath.Join(src, "db", "wal.log"), "wal-1", 0o640)
	write(t, filepath.Join(src, "top.txt"), "top", 0o644)
	if err := os.Lchown(filepath.Join(src, "db", "wal.log"), 999, 999); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(src, "empty"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("db/wal.log", filepath.Join(src, "current")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"db/base.dat", "db", "empty"} {
		if err := os.Chtimes(filepath.Join(src, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// digest covers type, mode, owner, mtime (directories included) and content.
func digest(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		st := fi.Sys().(*syscall.Stat_t)
		s := fmt.Sprintf("%v %d:%d", fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			s += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			s += fmt.Sprintf(" %d %x", fi.ModTime().UnixNano(), sha256.Sum256(b))
		case rel != ".":
			s += fmt.Sprintf(" %d", fi.ModTime().UnixNano())
		}
		out[rel] = s
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertSame(t *testing.T, want, got map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: want %q, got %q", k, v, got[k])
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: extra entry %q", k, v)
		}
	}
}

func TestCaptureIncremental(t *testing.T) {
	src := volume(t)
	stg := filepath.Join(t.TempDir(), "staging")
	c, err := Capture(t.Context(), src, stg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Files != 3 || c.CopiedFiles != 3 || c.Bytes != 100000+5+3 || c.FreeBytes <= 0 {
		t.Fatalf("first capture: %+v", c)
	}
	assertSame(t, digest(t, src), digest(t, c.Dir))

	c, err = Capture(t.Context(), src, stg, Options{})
	if err != nil || c.CopiedFiles != 0 || c.Removed != 0 {
		t.Fatalf("unchanged capture: %v %+v", err, c)
	}

	// Same size and mtime as before, new content: only ctime/inode tell.
	wal := filepath.Join(src, "db", "wal.log")
	fi, _ := os.Stat(wal)
	write(t, wal, "wal-2", 0o640)
	if err := os.Chtimes(wal, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(src, "top.txt")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(src, "new", "n.txt"), "new", 0o600)
	if err := os.Remove(filepath.Join(src, "current")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("new/n.txt", filepath.Join(src, "current")); err != nil {
		t.Fatal(err)
	}
	c, err = Capture(t.Context(), src, stg, Options{})
	if err != nil || c.CopiedFiles != 2 || c.Removed != 1 || c.CopiedBytes != 5+3 {
		t.Fatalf("incremental capture: %v %+v", err, c)
	}
	assertSame(t, digest(t, src), digest(t, c.Dir))
	if _, err := Check(stg); err != nil {
		t.Fatalf("check after capture: %v", err)
	}
}

func TestFullCompareWithoutIndex(t *testing.T) {
	src := volume(t)
	stg := filepath.Join(t.TempDir(), "staging")
	if _, err := Capture(t.Context(), src, stg, Options{}); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(stg, indexFile)); err != nil {
		t.Fatal(err)
	}
	top := filepath.Join(src, "top.txt")
	fi, _ := os.Stat(top)
	write(t, top, "TOP", 0o644)
	if err := os.Chtimes(top, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if c, err := Capture(t.Context(), src, stg, Options{}); err != nil || c.CopiedFiles != 0 {
		t.Fatalf("metadata-only compare without index should miss the change: %v %+v", err, c)
	}
	c, err := Capture(t.Context(), src, stg, Options{FullCompare: true})
	if err != nil || c.CopiedFiles != 1 {
		t.Fatalf("full compare: %v %+v", err, c)
	}
	assertSame(t, digest(t, src), digest(t, c.Dir))
}

func TestCaptureBoundedBeforeWriting(t *testing.T) {
	src := volume(t)
	stg := filepath.Join(t.TempDir(), "staging")
	for name, opt := range map[string]Options{
		"MaxBytes":  {MaxBytes: 1000},
		"FreeSpace": {ReserveBytes: 1 << 62, NoReflink: true},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Capture(t.Context(), src, stg, opt)
			if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), stg) {
				t.Fatalf("want ErrNoSpace naming the staging dir, got %v", err)
			}
			ents, _ := os.ReadDir(filepath.Join(stg, dataDir))
			if len(ents) != 0 {
				t.Fatalf("a refused capture wrote %d entries", len(ents))
			}
			if _, err := os.Stat(filepath.Join(stg, markerFile)); err == nil {
				t.Fatal("a refused capture left an INCOMPLETE marker")
			}
		})
	}
}

func TestInterruptedCaptureIsRepaired(t *testing.T) {
	src := volume(t)
	stg := filepath.Join(t.TempDir(), "staging")
	if _, err := Capture(t.Context(), src, stg, Options{}); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash mid-capture: marker, a temp file, a truncated file.
	write(t, filepath.Join(stg, markerFile), "", 0o600)
	write(t, filepath.Join(stg, dataDir, "db", "base.dat"+tmpSuffix), "partial", 0o600)
	if _, err := Check(stg); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("check of an interrupted capture: %v", err)
	}
	c, err := Capture(t.Context(), src, stg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, digest(t, src), digest(t, c.Dir))
	if _, err := Check(stg); err != nil {
		t.Fatalf("check after repair: %v", err)
	}
}
