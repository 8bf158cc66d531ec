package fsbackup

import (
	"context"

	kfs "github.com/kopia/kopia/fs"
)

// pausing presents a directory tree to kopia with its files read through
// readers that call pause before each read (BackupOptions.Pause). Metadata,
// the previous snapshot and the block sums are not held: only file data.
func pausing(root kfs.Directory, pause func(context.Context) error) kfs.Directory {
	return mapFiles(root, func(_ string, f kfs.File) kfs.Entry { return pausingFile{File: f, pause: pause} })
}

type pausingFile struct {
	kfs.File
	pause func(context.Context) error
}

func (f pausingFile) Open(ctx context.Context) (kfs.Reader, error) {
	r, err := f.File.Open(ctx)
	if err != nil {
		return nil, err
	}
	return pausingReader{Reader: r, ctx: ctx, pause: f.pause}, nil
}

// pausingReader holds each read in pause.
type pausingReader struct {
	kfs.Reader
	ctx   context.Context // the Open's: kopia's reads take none
	pause func(context.Context) error
}

func (r pausingReader) Read(p []byte) (int, error) {
	if err := r.pause(r.ctx); err != nil {
		return 0, err
	}
	return r.Reader.Read(p)
}
