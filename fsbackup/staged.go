package fsbackup

import (
	"context"
	"fmt"

	"github.com/quiesce-dev/quiesce/fsbackup/staging"
)

// Capture makes a point-in-time copy of a volume in stagingDir (call it while
// the application is frozen); Upload then snapshots it after the thaw.
func Capture(ctx context.Context, dir, stagingDir string, opt staging.Options) (staging.Copy, error) {
	return staging.Capture(ctx, dir, stagingDir, opt)
}

// Upload snapshots the completed staged copy in stagingDir as opt.Source: the
// snapshot belongs to the volume, not the staging path, so incremental
// backups see staged and direct captures of one volume as the same source.
func (e *Engine) Upload(ctx context.Context, stagingDir string, opt BackupOptions) (Result, error) {
	c, err := staging.Check(stagingDir)
	if err != nil {
		return Result{Source: opt.Source}, fmt.Errorf("upload of %s: %w", opt.Source, err)
	}
	res, err := e.Backup(ctx, c.Dir, opt)
	if err != nil {
		return res, err
	}
	// After the thaw: block sums for files the capture copied whole, so
	// that the next capture reads only the live files. Best effort: without
	// them the next capture compares against the staged data.
	_ = staging.Prepare(ctx, stagingDir)
	return res, nil
}
