package staging

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// newFilesDir holds files copied whole by phase 1 until phase 2 moves them
// into data/ (they never replace an existing staged file).
const newFilesDir = "new"

// filePlan is one changed file of a capture.
type filePlan struct {
	entry
	patch      bool  // staged before: only its changed blocks are written
	stagedSize int64 // size of the staged file (patch)
	newPath    string
	trusted    bool // the staged block sums may be used
	replace    bool // staged before, but mostly changed: copied whole
	vanished   bool
}

// capture reads the live file: a patched file's changed blocks go to the
// redo log, a new file is copied whole to newPath. It returns the bytes
// that phase 2 writes into data/.
func (p *filePlan) capture(src, stagingDir string, redo *redoWriter, reflink bool) (int64, bool, error) {
	if err := testFault("read", p.rel); err != nil {
		return 0, false, err
	}
	from := filepath.Join(src, p.rel)
	if !p.patch {
		cl, err := copyFile(from, p.newPath, p.info, reflink)
		if errors.Is(err, os.ErrNotExist) {
			p.vanished = true // gone since the scan: the upload will not see it either
			return 0, false, nil
		}
		return p.info.Size(), cl, err
	}
	var sums []uint64
	if p.trusted {
		sums = loadSums(stagingDir, p.rel, p.stagedSize)
	}
	// Pass 1 finds the changed ranges; pass 2 logs their bytes, or, when
	// most of the file changed, copies it whole (written once, not twice).
	var ranges []Range
	var n int64
	size, live, err := diffFile(from, filepath.Join(stagingDir, dataDir, p.rel), p.stagedSize, sums,
		func(off int64, data []byte) error {
			n += int64(len(data))
			ranges = append(ranges, Range{Off: off, Len: int64(len(data))})
			return nil
		})
	if errors.Is(err, os.ErrNotExist) {
		p.vanished = true
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("compare %s: %w", p.rel, err)
	}
	if n > size/2 && size >= wholeCopyMin {
		p.patch, p.replace = false, true
		cl, err := copyFile(from, p.newPath, p.info, reflink)
		return size, cl, err
	}
	if err := logRanges(from, p.rel, ranges, redo); err != nil {
		return 0, false, err
	}
	if err := redo.truncate(p.rel, size); err != nil {
		return 0, false, err
	}
	if sums == nil {
		if err := redo.sums(p.rel, live); err != nil {
			return 0, false, err
		}
	}
	return n, false, nil
}

// wholeCopyMin: smaller files are always patched (a copy saves nothing).
const wholeCopyMin = 1 << 20

// logRanges reads the changed ranges of the live file into the redo log
// (from page cache: pass 1 just read them).
func logRanges(from, rel string, ranges []Range, redo *redoWriter) error {
	if len(ranges) == 0 {
		return nil
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	var buf []byte
	for _, r := range ranges {
		if int64(cap(buf)) < r.Len {
			buf = make([]byte, r.Len)
		}
		b := buf[:r.Len]
		if _, err := in.ReadAt(b, r.Off); err != nil {
			return fmt.Errorf("read %s at %d: %w", rel, r.Off, err)
		}
		if err := redo.write(rel, r.Off, b); err != nil {
			return err
		}
	}
	return nil
}

// finish runs after the redo log was applied: a new file moves into place
// (its sums are written later by Prepare, outside the freeze), a patched
// file gets the live file's owner, mode and times.
func (p *filePlan) finish(dataRoot, stagingDir string) error {
	dst := filepath.Join(dataRoot, p.rel)
	if p.vanished {
		// Gone from the volume at this point in time: the previous
		// capture's copy must not be uploaded with this one's files.
		_ = os.Remove(sumsPath(stagingDir, p.rel))
		if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	if p.patch {
		return setMeta(dst, p.info)
	}
	_ = os.Remove(sumsPath(stagingDir, p.rel))
	if p.replace {
		// Unlink first: on ext4 a rename over an existing file starts
		// writeback of the new one (auto_da_alloc), inside the freeze.
		if err := os.Remove(dst); err != nil {
			return err
		}
	}
	return os.Rename(p.newPath, dst)
}

// testFault lets tests fail a capture at a step ("read" a file, "apply").
var testFault = func(step, rel string) error { return nil }

// forEach runs f on every plan with n workers and returns the first error.
func forEach(ctx context.Context, n int, plans []filePlan, f func(*filePlan) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan *filePlan)
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	for range n {
		wg.Go(func() {
			for p := range work {
				if err := f(p); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("%s: %w", p.rel, err); cancel() })
				}
			}
		})
	}
feed:
	for i := range plans {
		select {
		case work <- &plans[i]:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// markSums records that the sums were written by this boot.
func markSums(stagingDir string) error {
	if err := os.MkdirAll(filepath.Join(stagingDir, sumsDir), 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(stagingDir, sumsDir, bootFile), []byte(bootID()), 0o600)
}

// recoverInterrupted finishes a capture whose phase 2 was interrupted: its
// committed redo log is replayed (idempotent), so block sums match the data
// again. Without a committed log (a capture of an older version, or a
// crash), the sums are dropped and the next comparison reads the staged data.
func recoverInterrupted(stagingDir string) error {
	if _, err := os.Stat(filepath.Join(stagingDir, markerFile)); err != nil {
		_ = os.Remove(filepath.Join(stagingDir, redoFile)) // uncommitted: phase 1 never finished
		return nil
	}
	err := applyRedo(stagingDir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) && !errors.Is(err, errNoCommit) {
			return fmt.Errorf("replay the interrupted capture's redo log: %w", err)
		}
		if err := os.RemoveAll(filepath.Join(stagingDir, sumsDir)); err != nil {
			return err
		}
	}
	_ = os.Remove(filepath.Join(stagingDir, redoFile))
	return nil
}

// Prepare writes the block sums of staged files that have none (files a
// capture copied whole), so that the next capture compares them by reading
// only the live file. Call it outside the freeze (fsbackup's Upload does,
// after a successful upload); a capture without sums is still correct,
// only slower.
func Prepare(ctx context.Context, stagingDir string) error {
	if _, err := Check(stagingDir); err != nil {
		return err
	}
	if !sumsTrusted(stagingDir) {
		if err := os.RemoveAll(filepath.Join(stagingDir, sumsDir)); err != nil {
			return err
		}
	}
	root := filepath.Join(stagingDir, dataDir)
	list, err := scan(ctx, root)
	if err != nil {
		return fmt.Errorf("prepare %s: %w", stagingDir, err)
	}
	for _, e := range list {
		if !e.info.Mode().IsRegular() || loadSums(stagingDir, e.rel, e.info.Size()) != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		sums, err := sumsOfFile(filepath.Join(root, e.rel))
		if err != nil {
			return fmt.Errorf("prepare %s: %w", e.rel, err)
		}
		if err := writeSumsFile(sumsPath(stagingDir, e.rel), sums); err != nil {
			return fmt.Errorf("prepare %s: %w", e.rel, err)
		}
	}
	return markSums(stagingDir)
}

func writeSumsFile(p string, sums []uint64) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := writeSums(f, 0, sums); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// sumsOfFile hashes a file's blocks, reading it in chunks.
func sumsOfFile(p string) ([]uint64, error) {
	var out []uint64
	_, err := diffBlocks(p, "", 0, []uint64{}, func(int64, []byte) error { return nil },
		func(b []byte) { out = append(out, blockSum(b)) })
	return out, err
}
