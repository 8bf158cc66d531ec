package fsbackup

import (
	"context"

	kfs "github.com/kopia/kopia/fs"
)

// mapFiles presents dir's tree to kopia's uploader with each file replaced
// by fn's entry for it; rel is the file's slash-separated path under dir.
// Directories are mapped all the way down; other entries (symlinks,
// devices) pass through. The block layout and the upload pacer each map the
// files they care about, and compose by mapping a mapped tree.
func mapFiles(dir kfs.Directory, fn func(rel string, f kfs.File) kfs.Entry) kfs.Directory {
	return mappedDir{Directory: dir, fn: fn}
}

type mappedDir struct {
	kfs.Directory
	fn  func(rel string, f kfs.File) kfs.Entry
	rel string // of this directory; "" at the root
}

func (d mappedDir) mapEntry(e kfs.Entry) kfs.Entry {
	rel := e.Name()
	if d.rel != "" {
		rel = d.rel + "/" + rel
	}
	switch x := e.(type) {
	case kfs.Directory:
		return mappedDir{Directory: x, fn: d.fn, rel: rel}
	case kfs.File:
		return d.fn(rel, x)
	}
	return e
}

func (d mappedDir) Child(ctx context.Context, name string) (kfs.Entry, error) {
	e, err := d.Directory.Child(ctx, name)
	if err != nil {
		return nil, err //nolint:wrapcheck // kopia's, passed through
	}
	return d.mapEntry(e), nil
}

func (d mappedDir) Iterate(ctx context.Context) (kfs.DirectoryIterator, error) {
	it, err := d.Directory.Iterate(ctx)
	if err != nil {
		return nil, err //nolint:wrapcheck // kopia's, passed through
	}
	return mappedIter{DirectoryIterator: it, d: d}, nil
}

type mappedIter struct {
	kfs.DirectoryIterator
	d mappedDir
}

func (i mappedIter) Next(ctx context.Context) (kfs.Entry, error) {
	e, err := i.DirectoryIterator.Next(ctx)
	if e == nil || err != nil {
		return e, err //nolint:wrapcheck // kopia's, passed through
	}
	return i.d.mapEntry(e), nil
}
