package fsbackup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	kfs "github.com/kopia/kopia/fs"
)

const testPassword = "test-password-123"

func testConfig(t testing.TB, repoDir string) Config {
	return Config{Path: repoDir, Password: testPassword, CacheDir: t.TempDir(), Client: "test@node-a"}
}

// newEngine creates a real filesystem repository in a temp dir.
func newEngine(t testing.TB) (*Engine, Config) {
	t.Helper()
	cfg := testConfig(t, filepath.Join(t.TempDir(), "repo"))
	e, err := Create(t.Context(), cfg, Format{})
	if err != nil {
		t.Fatalf("create repository: %v", err)
	}
	e.ProgressInterval = 10 * time.Millisecond
	t.Cleanup(func() { _ = e.Close(context.WithoutCancel(t.Context())) })
	return e, cfg
}

var testSource = Source{Namespace: "shop", Workload: "statefulset/db", Volume: "data"}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// makeTree builds a volume with the metadata restore must keep: modes,
// owners, mtimes, symlinks (one dangling), empty directories.
func makeTree(t testing.TB, dir string) {
	t.Helper()
	old := time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC)
	writeFile(t, filepath.Join(dir, "a", "small.txt"), []byte(strings.Repeat("hello quiesce\n", 100)), 0o644)
	writeFile(t, filepath.Join(dir, "a", "b", "random.bin"), randBytes(t, 256<<10), 0o600)
	writeFile(t, filepath.Join(dir, "big.bin"), randBytes(t, 3<<20), 0o640)
	writeFile(t, filepath.Join(dir, "owned.txt"), []byte("owned by 1234:5678"), 0o640)
	for _, f := range []string{"owned.txt", "a/b/random.bin"} {
		if err := os.Lchown(filepath.Join(dir, f), 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a/small.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("does/not/exist", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(dir, "big.bin"), old, old); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"empty", "a/b", "a"} {
		if err := os.Chtimes(filepath.Join(dir, d), old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// treeDigest describes every entry: type, mode, owner, the content's mtime
// and sha256, or the symlink's target. Directory mtimes are left out: kopia
// records a directory's mtime as the newest mtime in its subtree.
func treeDigest(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v uid=%d gid=%d", fi.Mode(), st.Uid, st.Gid)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += fmt.Sprintf(" mtime=%d sha256=%s", fi.ModTime().UnixNano(), hex.EncodeToString(sum[:]))
		}
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffDigest(want, got map[string]string) string {
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if want[k] != got[k] {
			fmt.Fprintf(&b, "%s:\n  want %q\n  got  %q\n", k, want[k], got[k])
		}
	}
	return b.String()
}

// faultyDir wraps a kopia directory so that opening the named files fails
// with the given error: deterministic vanished/permission-denied files.
type faultyDir struct {
	kfs.Directory
	faults map[string]error // by entry name, any depth
}

func (d faultyDir) wrap(e kfs.Entry) kfs.Entry {
	switch x := e.(type) {
	case kfs.Directory:
		return faultyDir{Directory: x, faults: d.faults}
	case kfs.File:
		if err, ok := d.faults[x.Name()]; ok {
			return faultyFile{File: x, err: err}
		}
	}
	return e
}

func (d faultyDir) Child(ctx context.Context, name string) (kfs.Entry, error) {
	e, err := d.Directory.Child(ctx, name)
	if err != nil {
		return nil, err
	}
	return d.wrap(e), nil
}

func (d faultyDir) Iterate(ctx context.Context) (kfs.DirectoryIterator, error) {
	it, err := d.Directory.Iterate(ctx)
	if err != nil {
		return nil, err
	}
	return faultyIter{it: it, d: d}, nil
}

type faultyIter struct {
	it kfs.DirectoryIterator
	d  faultyDir
}

func (i faultyIter) Next(ctx context.Context) (kfs.Entry, error) {
	e, err := i.it.Next(ctx)
	if e == nil || err != nil {
		return e, err
	}
	return i.d.wrap(e), nil
}
func (i faultyIter) Close() { i.it.Close() }

type faultyFile struct {
	kfs.File
	err error
}

func (f faultyFile) Open(context.Context) (kfs.Reader, error) {
	return nil, &fs.PathError{Op: "open", Path: f.Name(), Err: f.err}
}

// vanishingDir deletes the real file named victim when kopia opens it, so
// kopia's own open fails with a real ENOENT (listed, then gone).
type vanishingDir struct {
	kfs.Directory
	victim string
}

func (d vanishingDir) Iterate(ctx context.Context) (kfs.DirectoryIterator, error) {
	it, err := d.Directory.Iterate(ctx)
	if err != nil {
		return nil, err
	}
	return vanishingIter{DirectoryIterator: it, d: d}, nil
}

type vanishingIter struct {
	kfs.DirectoryIterator
	d vanishingDir
}

func (i vanishingIter) Next(ctx context.Context) (kfs.Entry, error) {
	e, err := i.DirectoryIterator.Next(ctx)
	if e == nil || err != nil {
		return e, err
	}
	switch x := e.(type) {
	case kfs.Directory:
		return vanishingDir{Directory: x, victim: i.d.victim}, nil
	case kfs.File:
		if x.Name() == i.d.victim {
			return vanishingFile{File: x}, nil
		}
	}
	return e, nil
}

type vanishingFile struct{ kfs.File }

func (f vanishingFile) Open(ctx context.Context) (kfs.Reader, error) {
	_ = os.Remove(f.LocalFilesystemPath())
	return f.File.Open(ctx)
}
