// Package staging makes a point-in-time local copy of a volume (capture) so
// that the application can be thawed before the slow upload starts.
//
// Layout of a staging directory (one per volume):
//
//	data/        the staged copy, uploaded by fsbackup as the volume's source
//	index.json   source inode/size/mtime/ctime of every file at the last capture
//	sums/        an xxhash64 per 4 KiB block of every staged file; sums/BOOT
//	             names the boot that wrote them (others are not trusted)
//	redo         the changed blocks of the capture in progress (redo.go)
//	new/         files copied whole by the capture in progress
//	INCOMPLETE   present while a capture modifies data/; Upload refuses it
//
// A capture looks at a file only when its size, mtime, ctime or inode
// differs from the index (or, without an index, when size or mtime differs
// from the staged file). Inside the freeze it reads such a file from the
// live volume and compares it block by block with the staged copy's sums,
// so only the changed blocks are written (twice: redo log, then in place);
// the staged copy is never read and no file is renamed over another. New
// files are copied whole (a reflink, FICLONE, where the filesystem supports
// it) and get their sums from Prepare after the upload.
package staging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	dataDir    = "data"
	indexFile  = "index.json"
	markerFile = "INCOMPLETE"
	tmpSuffix  = ".quiesce-tmp"
)

// ErrNoSpace: the staging filesystem cannot hold the copy.
var ErrNoSpace = errors.New("not enough space for the staged copy")

// ErrIncomplete: the staged copy was interrupted and must be captured again.
var ErrIncomplete = errors.New("staged copy is incomplete (capture again)")

// Options tune a capture.
type Options struct {
	// FullCompare also compares the content of files whose metadata matches.
	FullCompare bool
	// NoReflink always copies bytes.
	NoReflink bool
	// MaxBytes bounds the staged copy's total size (0: no bound).
	MaxBytes int64
	// ReserveBytes must stay free on the staging filesystem after the copy
	// (default 64 MiB).
	ReserveBytes int64
	// Parallel files copied at once (default CPU count).
	Parallel int
}

// Copy describes a staged copy.
type Copy struct {
	// Dir is the staged tree to upload.
	Dir string
	// StagingDir is the directory given to Capture.
	StagingDir  string
	Files       int64
	Bytes       int64 // total size of the staged files (disk use without reflinks)
	CopiedFiles int64 // files copied, cloned or patched by this capture
	// CopiedBytes were written into the staged copy: changed blocks of
	// files staged before, whole new files.
	CopiedBytes int64
	// LoggedBytes went through the redo log first (the changed blocks).
	LoggedBytes int64
	Reflinked   int64 // of CopiedFiles, files cloned instead of copied
	Removed     int64 // entries deleted because the source no longer has them
	FreeBytes   int64 // free space left on the staging filesystem
	Duration    time.Duration
}

type fileState struct {
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"`
	Ctime int64  `json:"ctime"`
}

type entry struct {
	rel  string
	info os.FileInfo
}

func stateOf(fi os.FileInfo) fileState {
	st := fi.Sys().(*syscall.Stat_t)
	return fileState{Ino: st.Ino, Size: fi.Size(), Mtime: fi.ModTime().UnixNano(),
		Ctime: st.Ctim.Sec*int64(time.Second) + st.Ctim.Nsec}
}

// Check returns the staged copy in stagingDir if a capture completed there.
func Check(stagingDir string) (Copy, error) {
	c := Copy{StagingDir: stagingDir, Dir: filepath.Join(stagingDir, dataDir)}
	if _, err := os.Stat(filepath.Join(stagingDir, markerFile)); err == nil {
		return c, fmt.Errorf("staging %s: %w", stagingDir, ErrIncomplete)
	}
	if _, err := os.Stat(filepath.Join(stagingDir, indexFile)); err != nil {
		return c, fmt.Errorf("staging %s: no completed capture: %w", stagingDir, err)
	}
	return c, nil
}

// Remove deletes a staging directory (policy: do not keep staged copies).
func Remove(stagingDir string) error { return os.RemoveAll(stagingDir) }

// Capture makes stagingDir/data a copy of src as of now. It checks free space
// (and opt.MaxBytes) before writing anything. If it fails, the staging
// directory is marked incomplete and the next Capture repairs it.
func Capture(ctx context.Context, src, stagingDir string, opt Options) (Copy, error) {
	start := time.Now()
	if opt.Parallel <= 0 {
		opt.Parallel = runtime.NumCPU()
	}
	if opt.ReserveBytes == 0 {
		opt.ReserveBytes = 64 << 20
	}
	c := Copy{StagingDir: stagingDir, Dir: filepath.Join(stagingDir, dataDir)}
	fail := func(err error) (Copy, error) {
		return c, fmt.Errorf("capture of %s into %s: %w", src, stagingDir, err)
	}
	srcEntries, err := scan(ctx, src)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fail(err)
	}
	if err := recoverInterrupted(stagingDir); err != nil {
		return fail(err)
	}
	index := loadIndex(stagingDir)
	stagedList, err := scan(ctx, c.Dir)
	if err != nil {
		return fail(err)
	}
	staged := make(map[string]os.FileInfo, len(stagedList))
	for _, e := range stagedList {
		staged[e.rel] = e.info
	}

	// Plan: which files to copy, what to delete, how many bytes it needs.
	srcByRel := make(map[string]os.FileInfo, len(srcEntries))
	var toCopy []entry
	var need int64
	newIndex := make(map[string]fileState)
	for _, e := range srcEntries {
		srcByRel[e.rel] = e.info
		c.Bytes += sizeIfRegular(e.info)
		if !e.info.Mode().IsRegular() {
			continue
		}
		c.Files++
		newIndex[e.rel] = stateOf(e.info)
		if changed(e, staged, index, opt.FullCompare, src, c.Dir) {
			toCopy = append(toCopy, e)
			need += e.info.Size()
		}
	}
	var toRemove []string
	for rel, fi := range staged {
		if s, ok := srcByRel[rel]; !ok || s.Mode().Type() != fi.Mode().Type() {
			toRemove = append(toRemove, rel)
		}
	}
	if opt.MaxBytes > 0 && c.Bytes > opt.MaxBytes {
		return fail(fmt.Errorf("%w: volume holds %d bytes, staging is bounded to %d (raise the bound or use direct mode)",
			ErrNoSpace, c.Bytes, opt.MaxBytes))
	}
	free, err := freeBytes(c.Dir)
	if err != nil {
		return fail(err)
	}
	reflink := !opt.NoReflink && len(toCopy) > 0 && probeReflink(src, toCopy[0], c.Dir)
	if !reflink && need+opt.ReserveBytes > free {
		return fail(fmt.Errorf("%w: %d bytes to copy + %d reserved, %d free on the staging filesystem (free space or use direct mode)",
			ErrNoSpace, need, opt.ReserveBytes, free))
	}

	// Phase 1, reading the live volume: changed blocks of staged files go
	// to the redo log, new files are copied whole into stagingDir/new.
	// data/ is not touched, so a failure here leaves the previous copy.
	trusted := sumsTrusted(stagingDir)
	if !trusted {
		if err := os.RemoveAll(filepath.Join(stagingDir, sumsDir)); err != nil {
			return fail(err)
		}
	}
	newDir := filepath.Join(stagingDir, newFilesDir)
	if err := os.RemoveAll(newDir); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(newDir, 0o700); err != nil {
		return fail(err)
	}
	redo, err := createRedo(stagingDir)
	if err != nil {
		return fail(err)
	}
	plans := make([]filePlan, len(toCopy))
	for i, e := range toCopy {
		plans[i] = filePlan{entry: e, newPath: filepath.Join(newDir, fmt.Sprint(i)), trusted: trusted}
		if st, ok := staged[e.rel]; ok && st.Mode().IsRegular() {
			plans[i].patch, plans[i].stagedSize = true, st.Size()
		}
	}
	var copied, cloned, bytes atomic.Int64
	err = forEach(ctx, opt.Parallel, plans, func(p *filePlan) error {
		n, cl, err := p.capture(src, stagingDir, redo, !opt.NoReflink)
		if err == nil {
			copied.Add(1)
			bytes.Add(n)
			if cl {
				cloned.Add(1)
			}
		}
		return err
	})
	if err == nil {
		err = redo.commit()
	}
	if err != nil {
		redo.abort(stagingDir)
		_ = os.RemoveAll(newDir)
		return fail(err)
	}
	c.CopiedFiles, c.Reflinked, c.CopiedBytes, c.LoggedBytes = copied.Load(), cloned.Load(), bytes.Load(), redo.bytes

	// Phase 2: data/ changes; mark it until the index is written. Only the
	// log's blocks are written into existing files (in place, no rename
	// over them); a failure from here on is finished by the next capture,
	// which replays the committed log first.
	if err := os.WriteFile(filepath.Join(stagingDir, markerFile), nil, 0o600); err != nil {
		return fail(err)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(toRemove))) // children before parents
	for _, rel := range toRemove {
		if err := os.RemoveAll(filepath.Join(c.Dir, rel)); err != nil {
			return fail(err)
		}
		_ = os.RemoveAll(sumsPath(stagingDir, rel))
		c.Removed++
	}
	var dirs []entry
	for _, e := range srcEntries {
		dst := filepath.Join(c.Dir, e.rel)
		switch {
		case e.info.IsDir():
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return fail(err)
			}
			dirs = append(dirs, e)
		case e.info.Mode()&os.ModeSymlink != 0:
			if err := syncSymlink(filepath.Join(src, e.rel), dst, e.info); err != nil {
				return fail(err)
			}
		}
	}
	if err := testFault("apply", ""); err != nil {
		return fail(err)
	}
	if err := applyRedo(stagingDir); err != nil {
		return fail(err)
	}
	for _, p := range plans {
		if err := p.finish(c.Dir, stagingDir); err != nil {
			return fail(err)
		}
		if p.vanished {
			delete(newIndex, p.rel)
		}
	}
	// Directory metadata last (children change mtimes), deepest first.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setMeta(filepath.Join(c.Dir, dirs[i].rel), dirs[i].info); err != nil {
			return fail(err)
		}
	}
	if err := setMeta(c.Dir, mustStat(src)); err != nil {
		return fail(err)
	}
	if err := saveIndex(stagingDir, newIndex); err != nil {
		return fail(err)
	}
	if err := markSums(stagingDir); err != nil {
		return fail(err)
	}
	_ = os.Remove(filepath.Join(stagingDir, redoFile))
	_ = os.RemoveAll(newDir)
	if err := os.Remove(filepath.Join(stagingDir, markerFile)); err != nil {
		return fail(err)
	}
	c.FreeBytes, _ = freeBytes(c.Dir)
	c.Duration = time.Since(start)
	return c, nil
}

func sizeIfRegular(fi os.FileInfo) int64 {
	if fi.Mode().IsRegular() {
		return fi.Size()
	}
	return 0
}

func mustStat(p string) os.FileInfo {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil
	}
	return fi
}

// scan lists dirs, regular files and symlinks under root (root excluded);
// other types (sockets, FIFOs, devices) are not staged.
func scan(ctx context.Context, root string) ([]entry, error) {
	var out []entry
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) && p != root {
				return nil // vanished while listing
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if p == root {
			return nil
		}
		t := fi.Mode().Type()
		if t != 0 && t != os.ModeDir && t != os.ModeSymlink {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, entry{rel: rel, info: fi})
		return nil
	})
	return out, err
}

func changed(e entry, staged map[string]os.FileInfo, index map[string]fileState, full bool, src, dst string) bool {
	st, ok := staged[e.rel]
	if !ok || !st.Mode().IsRegular() || st.Size() != e.info.Size() || !st.ModTime().Equal(e.info.ModTime()) {
		return true
	}
	if index != nil {
		if prev, ok := index[e.rel]; !ok || prev != stateOf(e.info) {
			return true
		}
	}
	if full {
		same, err := sameContent(filepath.Join(src, e.rel), filepath.Join(dst, e.rel))
		return err != nil || !same
	}
	return false
}

func loadIndex(stagingDir string) map[string]fileState {
	b, err := os.ReadFile(filepath.Join(stagingDir, indexFile))
	if err != nil {
		return nil
	}
	var m map[string]fileState
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

func saveIndex(stagingDir string, m map[string]fileState) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	tmp := filepath.Join(stagingDir, indexFile+tmpSuffix)
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(stagingDir, indexFile))
}

func freeBytes(dir string) (int64, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return int64(s.Bavail) * s.Bsize, nil
}
