package fsbackup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/blob"
	"github.com/kopia/kopia/snapshot/restore"
	"github.com/kopia/kopia/snapshot/snapshotfs"
)

// RestoreOptions control a restore.
type RestoreOptions struct {
	// Overwrite allows a non-empty target and makes it equal to the snapshot:
	// differing files are replaced and entries not in the snapshot deleted.
	Overwrite bool
	// SkipOwners leaves ownership to the restoring user (non-root restores).
	SkipOwners bool
}

// RestoreResult counts what a restore wrote.
type RestoreResult struct {
	Files, Dirs, Symlinks int64
	Bytes                 int64
	Skipped, Deleted      int64
	Duration              time.Duration
}

// Restore writes snapshot id into dir with contents, modes, ownership,
// mtimes, symlinks and empty directories. dir must be missing or empty
// unless opt.Overwrite is set.
func (e *Engine) Restore(ctx context.Context, id, dir string, opt RestoreOptions) (RestoreResult, error) {
	var res RestoreResult
	if err := e.healthy(); err != nil {
		return res, err
	}
	man, err := e.load(ctx, id)
	if err != nil {
		return res, err
	}
	if !opt.Overwrite {
		if empty, err := isEmptyDir(dir); err != nil {
			return res, fmt.Errorf("restore of snapshot %s into %s: %w", id, dir, err)
		} else if !empty {
			return res, fmt.Errorf("restore of snapshot %s into %s: target is not empty (pass --overwrite to replace its contents)", id, dir)
		}
	}
	root, err := snapshotfs.SnapshotRoot(e.rep, man)
	if err != nil {
		return res, fmt.Errorf("snapshot %s: root: %w", id, err)
	}
	out := &restore.FilesystemOutput{
		TargetPath:           dir,
		OverwriteDirectories: true,
		OverwriteFiles:       opt.Overwrite,
		OverwriteSymlinks:    opt.Overwrite,
		SkipOwners:           opt.SkipOwners,
		WriteFilesAtomically: opt.Overwrite,
	}
	if err := out.Init(ctx); err != nil {
		return res, fmt.Errorf("restore into %s: %w", dir, storageError(e.cfg.Path, err))
	}
	start := e.now()
	st, err := restore.Entry(ctx, e.rep, out, root, restore.Options{
		Parallel:               max(8, 2*e.Parallel), // writes wait on the disk: overlap them (kopia's CLI uses 8)
		DeleteExtra:            opt.Overwrite,
		RestoreDirEntryAtDepth: math.MaxInt32, // deep restore; kopia's zero means placeholders

	})
	res = RestoreResult{Files: int64(st.RestoredFileCount), Dirs: int64(st.RestoredDirCount),
		Symlinks: int64(st.RestoredSymlinkCount), Bytes: st.RestoredTotalFileSize, Skipped: int64(st.SkippedCount),
		Deleted: int64(st.DeletedFilesCount + st.DeletedDirCount + st.DeletedSymlinkCount), Duration: e.now().Sub(start)}
	if err != nil {
		return res, fmt.Errorf("restore of snapshot %s into %s: %w", id, dir, err)
	}
	return res, nil
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// VerifyResult summarizes a verify run.
type VerifyResult struct {
	Files  int64
	Bytes  int64
	Errors []string
}

// Verify re-reads every file of snapshot id from the repository (decrypting
// and checking every content hash) and checks that each backing pack blob
// exists. Corruption wraps ErrCorrupt. Reads go through the cache: open with a
// fresh Config.CacheDir to check the storage itself (the CLI does).
func (e *Engine) Verify(ctx context.Context, id string) (VerifyResult, error) {
	var res VerifyResult
	if err := e.healthy(); err != nil {
		return res, err
	}
	man, err := e.load(ctx, id)
	if err != nil {
		return res, err
	}
	opts := snapshotfs.VerifierOptions{VerifyFilesPercent: 100, Parallelism: e.Parallel, MaxErrors: 100}
	if dr, ok := e.rep.(repo.DirectRepository); ok {
		if opts.BlobMap, err = blob.ReadBlobMap(ctx, dr.BlobReader()); err != nil {
			return res, fmt.Errorf("verify of snapshot %s: list blobs: %w", id, err)
		}
	}
	root, err := snapshotfs.SnapshotRoot(e.rep, man)
	if err != nil {
		return res, fmt.Errorf("snapshot %s: root: %w", id, err)
	}
	v := snapshotfs.NewVerifier(ctx, e.rep, opts)
	vr, err := v.InParallel(ctx, func(tw *snapshotfs.TreeWalker) error {
		_ = tw.Process(ctx, root, ".") // errors are collected by the walker
		return nil
	})
	res.Files, res.Bytes, res.Errors = vr.Stats.ReadFileCount, vr.Stats.ReadBytes, vr.ErrorStrings
	if err != nil || vr.ErrorCount > 0 {
		first := ""
		if len(vr.ErrorStrings) > 0 {
			first = vr.ErrorStrings[0]
		} else if err != nil {
			first = err.Error()
		}
		return res, fmt.Errorf("verify of snapshot %s: %w: %d errors (first: %s)", id, ErrCorrupt, max(vr.ErrorCount, 1), first)
	}
	return res, nil
}
