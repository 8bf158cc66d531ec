package fsbackup

import (
	"os"
	"path/filepath"
	"testing"

	kfs "github.com/kopia/kopia/fs"
)

// rewritePages writes new random 8 KB pages at the given page numbers, in
// place, as a database does.
func rewritePages(t *testing.T, path string, pages ...int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range pages {
		if _, err := f.WriteAt(randBytes(t, 8192), p*8192); err != nil {
			t.Fatal(err)
		}
	}
}

func restoreEquals(t *testing.T, e *Engine, id, src string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := e.Restore(t.Context(), id, dst, RestoreOptions{}); err != nil {
		t.Fatalf("restore %s: %v", id, err)
	}
	if d := diffDigest(treeDigest(t, src), treeDigest(t, dst)); d != "" {
		t.Fatalf("restored tree differs:\n%s", d)
	}
	if vr, err := e.Verify(t.Context(), id); err != nil {
		t.Fatalf("verify %s: %v %+v", id, err, vr)
	}
}

func TestBlockLayoutIncremental(t *testing.T) {
	e, cfg := newEngine(t)
	e.BlockLayoutMin = 1 << 20
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "vol")
	seg := filepath.Join(src, "db", "seg0.dat")
	size := int64(10<<20 + 5000) // three segments, the last one short
	writeFile(t, seg, randBytes(t, int(size)), 0o600)
	writeFile(t, filepath.Join(src, "small.txt"), []byte("below the threshold"), 0o644)
	blocks := (size + blockSize - 1) / blockSize

	full, err := e.Backup(ctx, src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	if full.BlocksWritten != blocks || full.BlocksReused != 0 || full.BytesUploaded < size {
		t.Fatalf("full: %+v", full)
	}
	restoreEquals(t, e, full.SnapshotID, src)

	// Three pages in three blocks (pages 0, 601 and 1281: blocks 0, 300, 640).
	rewritePages(t, seg, 0, 601, 1281)
	inc, err := e.Backup(ctx, src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	if inc.BlocksWritten != 3 || inc.BlocksReused != blocks-3 || inc.BytesHashed != 3*blockSize {
		t.Fatalf("after 3 pages: %+v", inc)
	}
	// The blocks plus three segment indexes and the file's index.
	if inc.BytesUploaded > 3*blockSize+64<<10 {
		t.Errorf("after 3 pages, uploaded %d bytes", inc.BytesUploaded)
	}
	restoreEquals(t, e, inc.SnapshotID, src)

	// The file grows: the short last block is rewritten with the new data.
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(randBytes(t, 100<<10)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	grown, err := e.Backup(ctx, src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	if grown.BlocksWritten > 8 {
		t.Errorf("after appending 100 KiB: %+v", grown)
	}
	restoreEquals(t, e, grown.SnapshotID, src)

	// Without the block sums (a new cache), every block is hashed again but
	// only the changed one is stored: kopia deduplicates the rest.
	if err := os.RemoveAll(filepath.Join(cfg.CacheDir, "block-sums")); err != nil {
		t.Fatal(err)
	}
	rewritePages(t, seg, 5)
	nosums, err := e.Backup(ctx, src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	if nosums.BlocksReused != 0 || nosums.BytesUploaded > blockSize+64<<10 {
		t.Errorf("without sums: %+v", nosums)
	}
	restoreEquals(t, e, nosums.SnapshotID, src)
	// ... and the sums are back for the next one.
	rewritePages(t, seg, 7)
	again, err := e.Backup(ctx, src, BackupOptions{Source: testSource})
	if err != nil || again.BlocksWritten != 1 {
		t.Errorf("sums rebuilt: %v %+v", err, again)
	}
}

// A repository whose snapshots hold large files in kopia's own layout (an
// older quiesce, or BlockLayoutMin < 0) keeps working both ways.
func TestBlockLayoutSwitch(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "vol")
	seg := filepath.Join(src, "seg0.dat")
	writeFile(t, seg, randBytes(t, 6<<20), 0o600)
	for i, min := range []int64{-1, 1 << 20, -1, 1 << 20} {
		e.BlockLayoutMin = min
		rewritePages(t, seg, int64(i*10))
		res, err := e.Backup(ctx, src, BackupOptions{Source: testSource})
		if err != nil {
			t.Fatalf("backup %d (min %d): %v", i, min, err)
		}
		if (min > 0) != (res.BlocksWritten > 0) {
			t.Errorf("backup %d (min %d): %+v", i, min, res)
		}
		restoreEquals(t, e, res.SnapshotID, src)
	}
}

func TestBlockLayoutVanishedFile(t *testing.T) {
	e, _ := newEngine(t)
	e.BlockLayoutMin = 1 << 20
	src := filepath.Join(t.TempDir(), "vol")
	writeFile(t, filepath.Join(src, "seg0.dat"), randBytes(t, 2<<20), 0o600)
	writeFile(t, filepath.Join(src, "keep.txt"), []byte("kept"), 0o600)
	e.wrapDir = func(d kfs.Directory) kfs.Directory { return vanishingDir{Directory: d, victim: "seg0.dat"} }
	res, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
	if err != nil || len(res.FileErrors) != 1 || res.FileErrors[0].Path != "seg0.dat" || !res.FileErrors[0].Vanished || res.Files != 1 {
		t.Fatalf("large file deleted after listing: %v %+v", err, res)
	}
}
