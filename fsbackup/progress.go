package fsbackup

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/kopia/kopia/snapshot/upload"
)

// ProgressUpdate is a point-in-time view of a running backup.
type ProgressUpdate struct {
	Source                     Source
	FilesDone, FilesEstimated  int64
	BytesDone, BytesEstimated  int64
	BytesHashed, BytesUploaded int64
	FileErrors                 int64
	Elapsed                    time.Duration
}

// Progress receives updates while a backup runs (metrics, status, a CLI bar).
type Progress interface{ Update(ProgressUpdate) }

// ProgressFunc adapts a function to Progress.
type ProgressFunc func(ProgressUpdate)

// Update implements Progress.
func (f ProgressFunc) Update(u ProgressUpdate) { f(u) }

// NopProgress discards updates.
type NopProgress struct{}

// Update implements Progress.
func (NopProgress) Update(ProgressUpdate) {}

// kopiaProgress adapts kopia's upload.Progress: it counts with atomics and
// collects file errors; updates are sent from one ticker goroutine.
type kopiaProgress struct {
	upload.NullUploadProgress
	start                                  time.Time
	filesDone, filesEst, bytesEst          atomic.Int64
	cachedBytes, hashed, uploaded, nErrors atomic.Int64

	mu     sync.Mutex
	errors []FileError
}

func (p *kopiaProgress) Enabled() bool { return true }
func (p *kopiaProgress) EstimatedDataSize(files, bytes int64) {
	p.filesEst.Store(files)
	p.bytesEst.Store(bytes)
}
func (p *kopiaProgress) CachedFile(_ string, size int64) { p.cachedBytes.Add(size) }
func (p *kopiaProgress) FinishedFile(string, error)      { p.filesDone.Add(1) }
func (p *kopiaProgress) HashedBytes(n int64)             { p.hashed.Add(n) }
func (p *kopiaProgress) UploadedBytes(n int64)           { p.uploaded.Add(n) }
func (p *kopiaProgress) Error(path string, err error, _ bool) {
	p.nErrors.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errors = append(p.errors, newFileError(path, err))
}

func (p *kopiaProgress) fileErrors() []FileError {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]FileError(nil), p.errors...)
}

func (p *kopiaProgress) snapshot(src Source) ProgressUpdate {
	return ProgressUpdate{
		Source:    src,
		FilesDone: p.filesDone.Load(), FilesEstimated: p.filesEst.Load(),
		BytesDone: p.cachedBytes.Load() + p.hashed.Load(), BytesEstimated: p.bytesEst.Load(),
		BytesHashed: p.hashed.Load(), BytesUploaded: p.uploaded.Load(),
		FileErrors: p.nErrors.Load(), Elapsed: time.Since(p.start),
	}
}

// report sends updates every interval until stop is closed, then a final one.
func (p *kopiaProgress) report(sink Progress, src Source, interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			sink.Update(p.snapshot(src))
		case <-stop:
			sink.Update(p.snapshot(src))
			return
		}
	}
}
