package staging

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func randomFile(t *testing.T, p string, n int, seed uint64) []byte {
	t.Helper()
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o640); err != nil {
		t.Fatal(err)
	}
	return b
}

// rewritePages rewrites 8 KB pages in place, as a database does.
func rewritePages(t *testing.T, p string, pages ...int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, pg := range pages {
		if _, err := f.WriteAt(bytes.Repeat([]byte{byte(pg) + 1}, 8192), pg*8192); err != nil {
			t.Fatal(err)
		}
	}
}

func captureOK(t *testing.T, src, stg string) Copy {
	t.Helper()
	c, err := Capture(t.Context(), src, stg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, digest(t, src), digest(t, c.Dir))
	return c
}

// A rewritten page costs its blocks, twice (redo log, then in place), with
// or without block sums (Prepare), and files that grow or shrink stay exact.
func TestCapturePatchesChangedBlocks(t *testing.T) {
	for _, prepared := range []bool{false, true} {
		src := filepath.Join(t.TempDir(), "vol")
		stg := filepath.Join(t.TempDir(), "staging")
		seg := filepath.Join(src, "base", "seg1")
		randomFile(t, seg, 3<<20+1234, 1)
		randomFile(t, filepath.Join(src, "grow"), 10000, 2)
		randomFile(t, filepath.Join(src, "shrink"), 50000, 3)
		captureOK(t, src, stg)
		if prepared {
			if err := Prepare(t.Context(), stg); err != nil {
				t.Fatal(err)
			}
			if loadSums(stg, "base/seg1", 3<<20+1234) == nil {
				t.Fatal("Prepare wrote no sums")
			}
		}
		rewritePages(t, seg, 0, 17, 200, 384) // 384 overlaps the end
		f, _ := os.OpenFile(filepath.Join(src, "grow"), os.O_WRONLY|os.O_APPEND, 0)
		_, _ = f.Write(make([]byte, 5000))
		_ = f.Close()
		_ = os.Truncate(filepath.Join(src, "shrink"), 20000)
		c := captureOK(t, src, stg)
		// seg1: four pages (the last one extends the file); grow: from its
		// short last block on; shrink: its new short last block.
		want := int64(4*8192 + (15000 - 8192) + (20000 - 16384))
		if c.CopiedFiles != 3 || c.CopiedBytes != want || c.LoggedBytes != want {
			t.Fatalf("prepared=%v: copied %d files, %d bytes (logged %d), want 3, %d", prepared, c.CopiedFiles, c.CopiedBytes, c.LoggedBytes, want)
		}
		// The sums the capture left behind drive the next one.
		rewritePages(t, seg, 5)
		if c := captureOK(t, src, stg); c.CopiedBytes != 8192 {
			t.Fatalf("prepared=%v: second patch wrote %d bytes, want 8192", prepared, c.CopiedBytes)
		}
	}
}

// A capture that fails while reading the live files leaves the previous
// complete copy as it was, usable; one that fails while applying is refused
// by Check and finished by the next capture.
func TestFailedCaptureKeepsPreviousCopy(t *testing.T) {
	src := filepath.Join(t.TempDir(), "vol")
	stg := filepath.Join(t.TempDir(), "staging")
	randomFile(t, filepath.Join(src, "a"), 1<<20, 1)
	randomFile(t, filepath.Join(src, "b"), 1<<20, 2)
	captureOK(t, src, stg)
	if err := Prepare(t.Context(), stg); err != nil {
		t.Fatal(err)
	}
	before := digest(t, filepath.Join(stg, dataDir))

	rewritePages(t, filepath.Join(src, "a"), 3)
	rewritePages(t, filepath.Join(src, "b"), 7)
	randomFile(t, filepath.Join(src, "c"), 9000, 3)
	if err := os.Remove(filepath.Join(src, "a")); err != nil {
		t.Fatal(err)
	}
	randomFile(t, filepath.Join(src, "a"), 1<<20, 4)
	boom := errors.New("freeze deadline")
	defer func() { testFault = func(string, string) error { return nil } }()
	testFault = func(step, rel string) error {
		if step == "read" && rel == "b" {
			return boom
		}
		return nil
	}
	if _, err := Capture(t.Context(), src, stg, Options{Parallel: 1}); !errors.Is(err, boom) {
		t.Fatalf("capture: %v", err)
	}
	if _, err := Check(stg); err != nil {
		t.Fatalf("the previous copy is not usable: %v", err)
	}
	assertSame(t, before, digest(t, filepath.Join(stg, dataDir)))

	testFault = func(step, _ string) error {
		if step == "apply" {
			return boom
		}
		return nil
	}
	if _, err := Capture(t.Context(), src, stg, Options{}); !errors.Is(err, boom) {
		t.Fatalf("capture: %v", err)
	}
	if _, err := Check(stg); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("a half-applied copy must be refused: %v", err)
	}
	testFault = func(string, string) error { return nil }
	captureOK(t, src, stg)
	if _, err := Check(stg); err != nil {
		t.Fatal(err)
	}
}

// Sums written before a reboot are not trusted (nothing was fsynced): the
// capture compares against the staged data instead.
func TestSumsFromAnotherBootAreIgnored(t *testing.T) {
	src := filepath.Join(t.TempDir(), "vol")
	stg := filepath.Join(t.TempDir(), "staging")
	seg := filepath.Join(src, "seg")
	randomFile(t, seg, 1<<20, 1)
	captureOK(t, src, stg)
	if err := Prepare(t.Context(), stg); err != nil {
		t.Fatal(err)
	}
	// The staged data changed behind the sums' back (lost writes), and the
	// node rebooted.
	rewritePages(t, filepath.Join(stg, dataDir, "seg"), 9)
	if err := os.WriteFile(filepath.Join(stg, sumsDir, bootFile), []byte("another-boot"), 0o600); err != nil {
		t.Fatal(err)
	}
	rewritePages(t, seg, 2)
	if c := captureOK(t, src, stg); c.CopiedBytes != 2*8192 {
		t.Fatalf("copied %d bytes, want the changed and the lost page", c.CopiedBytes)
	}
}

// A file that mostly changed is copied whole (written once) and unlinked
// before the copy takes its name, never renamed over it.
func TestMostlyChangedFileIsCopiedWhole(t *testing.T) {
	src := filepath.Join(t.TempDir(), "vol")
	stg := filepath.Join(t.TempDir(), "staging")
	randomFile(t, filepath.Join(src, "seg"), 2<<20, 1)
	captureOK(t, src, stg)
	randomFile(t, filepath.Join(src, "seg"), 2<<20, 2)
	c := captureOK(t, src, stg)
	if c.CopiedBytes != 2<<20 || c.LoggedBytes != 0 {
		t.Fatalf("copied %d bytes, logged %d: want the file once, nothing logged", c.CopiedBytes, c.LoggedBytes)
	}
	rewritePages(t, filepath.Join(src, "seg"), 1)
	if c := captureOK(t, src, stg); c.CopiedBytes != 8192 {
		t.Fatalf("a page after a whole copy: %d bytes", c.CopiedBytes)
	}
}
