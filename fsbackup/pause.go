package fsbackup

import (
	"context"

	kfs "github.com/kopia/kopia/fs"
)

// pausingDir hands kopia the files of a directory tree through readers
// that call pause before each read (BackupOptions.Pause). Metadata, the
// previous snapshot and the block sums are not held: only file data.
type pausingDir struct {
	kfs.Directory
	pause func(context.Context) error
}

func (d pausingDir) wrap(e kfs.Entry) kfs.Entry {
	switch x := e.(type) {
	case kfs.Directory:
		return pausingDir{Directory: x, pause: d.pause}
	case kfs.File:
		return pausingFile{File: x, pause: d.pause}
	}
	return e
}

func (d pausingDir) Child(ctx context.Context, name string) (kfs.Entry, error) {
	e, err := d.Directory.Child(ctx, name)
	if err != nil {
		return nil, err
	}
	return d.wrap(e), nil
}

func (d pausingDir) Iterate(ctx context.Context) (kfs.DirectoryIterator, error) {
	it, err := d.Directory.Iterate(ctx)
	if err != nil {
		return nil, err
	}
	return pausingIter{DirectoryIterator: it, d: d}, nil
}

type pausingIter struct {
	kfs.DirectoryIterator
	d pausingDir
}

func (i pausingIter) Next(ctx context.Context) (kfs.Entry, error) {
	e, err := i.DirectoryIterator.Next(ctx)
	if e == nil || err != nil {
		return e, err
	}
	return i.d.wrap(e), nil
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
