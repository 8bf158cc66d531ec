package fsbackup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	kfs "github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/fs/localfs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/compression"
	"github.com/kopia/kopia/repo/object"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/policy"
	"github.com/kopia/kopia/snapshot/snapshotfs"
	"github.com/kopia/kopia/snapshot/upload"
)

// Tag keys. Callers set the identity tags in BackupOptions.Tags; the engine
// sets TagExpiresAt from BackupOptions.ExpiresAt. kopia stores them with its
// "tag:" prefix, so the kopia CLI shows them too.
const (
	tagPrefix    = "tag:"
	TagExpiresAt = "quiesce.expires-at" // RFC 3339; Expire deletes the snapshot after it

	TagBackup    = "backup"
	TagNamespace = "namespace"
	TagPod       = "pod"
	TagPodUID    = "podUID"
	TagVolume    = "volume"
	TagPVC       = "pvc"
)

// FileErrorPolicy decides which unreadable files fail a backup. Every error is
// reported in Result.FileErrors either way.
type FileErrorPolicy int

const (
	// IgnoreVanished (default): files deleted while the backup ran are left
	// out; any other error (permission denied, I/O error) fails the volume,
	// because the snapshot would silently miss data the application still has.
	IgnoreVanished FileErrorPolicy = iota
	// FailOnAny fails the volume on any file error.
	FailOnAny
	// IgnoreAll saves the snapshot without the unreadable files.
	IgnoreAll
)

// FileError is one file or directory that could not be read.
type FileError struct {
	Path     string // relative to the backed-up directory
	Reason   string
	Vanished bool // deleted between listing and reading
}

func newFileError(path string, err error) FileError {
	return FileError{Path: path, Reason: err.Error(),
		Vanished: errors.Is(err, fs.ErrNotExist) || errors.Is(err, kfs.ErrEntryNotFound) || errors.Is(err, syscall.ENOENT)}
}

func (p FileErrorPolicy) allows(fe FileError) bool {
	switch p {
	case IgnoreAll:
		return true
	case FailOnAny:
		return false
	default:
		return fe.Vanished
	}
}

// BackupOptions describe one volume backup.
type BackupOptions struct {
	Source Source
	// Tags label the snapshot (backup, namespace, pod, podUID, volume, pvc...).
	Tags map[string]string
	// ExpiresAt, when set, lets Expire delete the snapshot after that time.
	ExpiresAt   time.Time
	Description string
	// Pause, if set, is called before each read of a file's data; an
	// upload that must give way to more urgent work waits in it (the
	// agent's, while a pod of the node is frozen). Its error ends the backup.
	Pause func(context.Context) error
}

// Result describes a finished backup.
type Result struct {
	SnapshotID string
	// PreviousID is the snapshot the backup was incremental to ("" for a full one).
	PreviousID    string
	Source        Source
	Files, Dirs   int64
	CachedFiles   int64 // files and symlinks unchanged since PreviousID: not read at all
	BytesRead     int64 // total size of the files in the snapshot (read or cached)
	BytesHashed   int64 // bytes actually read and hashed
	BytesUploaded int64 // bytes written to storage (after compression and dedup)
	// BlocksReused and BlocksWritten count the 16 KiB blocks of large files
	// (block layout): reused from the previous snapshot unhashed, or hashed
	// and written (deduplicated by kopia).
	BlocksReused, BlocksWritten int64
	Duration                    time.Duration
	FileErrors                  []FileError
}

// Backup snapshots dir as opt.Source. The previous snapshot of the same source
// makes it incremental: unchanged files (same size, mtime, mode, owner) are
// not read. On a file error the policy forbids, nothing is saved and the
// error wraps ErrFileErrors; Result.FileErrors lists every file.
func (e *Engine) Backup(ctx context.Context, dir string, opt BackupOptions) (Result, error) {
	res := Result{Source: opt.Source}
	if err := opt.Source.Validate(); err != nil {
		return res, err
	}
	if err := e.healthy(); err != nil {
		return res, err
	}
	root, err := e.openDir(dir)
	if err != nil {
		return res, fmt.Errorf("backup of %s from %s: %w", opt.Source, dir, err)
	}
	if opt.Pause != nil {
		root = pausing(root, opt.Pause)
	}
	start := e.now()
	// See what other nodes' agents wrote since this connection last looked:
	// the previous snapshot of a pod rescheduled from another node, and the
	// contents already stored. A failure costs only deduplication (the write
	// below reports a store that is really unreachable).
	_ = e.rep.Refresh(ctx) // see the comment above
	si := opt.Source.info()
	prog := &kopiaProgress{start: time.Now()}
	err = repo.WriteSession(ctx, e.rep, repo.WriteSessionOptions{Purpose: "quiesce backup " + opt.Source.String(),
		OnUpload: prog.UploadedBytes},
		func(ctx context.Context, w repo.RepositoryWriter) error {
			return e.backup(ctx, w, root, si, opt, prog, &res)
		})
	res.Duration = e.now().Sub(start)
	res.BytesUploaded = prog.uploaded.Load()
	e.Progress.Update(prog.snapshot(opt.Source)) // packs are written at flush, after the last tick
	if err != nil {
		return res, fmt.Errorf("backup of %s from %s: %w", opt.Source, dir, storageError(e.cfg.Path, err))
	}
	return res, e.healthy()
}

func (e *Engine) openDir(dir string) (kfs.Directory, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	d, err := localfs.Directory(dir)
	if err != nil {
		return nil, err
	}
	if e.wrapDir != nil {
		return e.wrapDir(d), nil
	}
	return d, nil
}

func (e *Engine) backup(ctx context.Context, w repo.RepositoryWriter, root kfs.Directory, si snapshot.SourceInfo, opt BackupOptions, prog *kopiaProgress, res *Result) error {
	prev, err := snapshot.FindPreviousManifests(ctx, w, si, nil)
	if err != nil {
		return fmt.Errorf("find previous snapshots: %w", err)
	}
	if len(prev) > 0 {
		res.PreviousID = string(prev[0].ID)
	}
	tree, err := policy.TreeForSourceWithOverride(ctx, w, si, e.policyOverride())
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	blocks, root, err := e.blockLayout(ctx, w, root, si, tree.EffectivePolicy(), prev, prog)
	if err != nil {
		return err
	}
	u := upload.NewUploader(blockRepo{RepositoryWriter: w, s: blocks})
	u.Progress = prog
	u.ParallelUploads = e.Parallel
	u.EnableActions = false
	stopCancel := context.AfterFunc(ctx, u.Cancel)
	defer stopCancel()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); prog.report(e.Progress, opt.Source, e.ProgressInterval, stop) }()
	man, err := u.Upload(ctx, root, tree, si, prev...)
	close(stop)
	<-done
	res.FileErrors = prog.fileErrors()
	sort.Slice(res.FileErrors, func(i, j int) bool { return res.FileErrors[i].Path < res.FileErrors[j].Path })
	res.BytesHashed = prog.hashed.Load()
	res.BlocksReused, res.BlocksWritten = blocks.reused.Load(), blocks.written.Load()
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if man.IncompleteReason != "" {
		return fmt.Errorf("upload incomplete: %s", man.IncompleteReason)
	}
	var failed []FileError
	for _, fe := range res.FileErrors {
		if !e.FileErrors.allows(fe) {
			failed = append(failed, fe)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: %d (first: %s: %s); nothing saved", ErrFileErrors, len(failed), failed[0].Path, failed[0].Reason)
	}
	man.Description = opt.Description
	man.Tags = map[string]string{}
	for k, v := range opt.Tags {
		man.Tags[tagPrefix+k] = v
	}
	if !opt.ExpiresAt.IsZero() {
		man.Tags[tagPrefix+TagExpiresAt] = opt.ExpiresAt.UTC().Format(time.RFC3339)
	}
	id, err := snapshot.SaveSnapshot(ctx, w, man)
	if err != nil {
		return fmt.Errorf("save snapshot: %w", err)
	}
	res.SnapshotID = string(id)
	if sum := man.RootEntry.DirSummary; sum != nil {
		res.Files, res.Dirs, res.BytesRead = sum.TotalFileCount, sum.TotalDirCount, sum.TotalFileSize
	}
	res.CachedFiles = int64(man.Stats.CachedFiles)
	return nil
}

// blockLayout wraps root so that files of at least BlockLayoutMin bytes
// are stored in the block layout (blocks.go).
func (e *Engine) blockLayout(ctx context.Context, w repo.RepositoryWriter, root kfs.Directory, si snapshot.SourceInfo,
	pol *policy.Policy, prev []*snapshot.Manifest, prog *kopiaProgress) (*blockStore, kfs.Directory, error) {
	s := &blockStore{w: w, pol: pol, metaComp: pol.MetadataCompressionPolicy.MetadataCompressor(),
		sumsDir: filepath.Join(e.cfg.CacheDir, "block-sums"), key: si.String(), min: e.BlockLayoutMin,
		hashed: prog.HashedBytes, ours: map[object.ID]bool{}}
	if s.min == 0 {
		s.min = DefaultBlockLayoutMin
	}
	if s.min < 0 {
		return s, root, nil
	}
	if len(prev) > 0 {
		r, err := snapshotfs.SnapshotRoot(w, prev[0])
		if err != nil {
			return nil, nil, fmt.Errorf("previous snapshot %s: %w", prev[0].ID, err)
		}
		if d, ok := r.(kfs.Directory); ok {
			s.prevRoot = d
		}
	}
	return s, mapFiles(root, s.mapFile), nil
}

// policyOverride makes kopia continue past file errors so that all of them
// are collected; FileErrorPolicy decides afterwards whether to save.
func (e *Engine) policyOverride() *policy.Policy {
	t := policy.OptionalBool(true)
	p := &policy.Policy{ErrorHandlingPolicy: policy.ErrorHandlingPolicy{
		IgnoreFileErrors: &t, IgnoreDirectoryErrors: &t, IgnoreUnknownTypes: &t,
	}}
	if e.Compression != "" {
		p.CompressionPolicy.CompressorName = compressionName(e.Compression)
	}
	return p
}

func compressionName(s string) compression.Name { return compression.Name(s) }
