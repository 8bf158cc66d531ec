package fsbackup

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	kfs "github.com/kopia/kopia/fs"
)

// TestScale measures what the issue asks to bound at scale: the
// repository's index and this process's peak RSS for one large file in the
// block layout, full and after 1% of its blocks changed. The file is
// generated (a sparse file gives the size; its data is made on read: each
// 16 KiB block is its number and version, then zeros), so no disk holds it.
// A measurement, not an assertion; run it alone:
//
//	QUIESCE_SCALE_GB=100 go test -run TestScale -v -timeout 2h ./fsbackup
//
// QUIESCE_SCALE_LAYOUT=kopia measures kopia's own layout instead.
func TestScale(t *testing.T) {
	gb, _ := strconv.Atoi(os.Getenv("QUIESCE_SCALE_GB"))
	if gb <= 0 {
		t.Skip("set QUIESCE_SCALE_GB")
	}
	e, cfg := newEngine(t)
	if os.Getenv("QUIESCE_SCALE_LAYOUT") == "kopia" {
		e.BlockLayoutMin = -1
	}
	src := filepath.Join(t.TempDir(), "vol")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	size := int64(gb) << 30
	big := filepath.Join(src, "big.dat")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	version := uint64(0)
	e.wrapDir = func(d kfs.Directory) kfs.Directory { return genDir{Directory: d, version: &version} }
	for _, phase := range []string{"full", "1% of blocks changed"} {
		if phase != "full" {
			version = 1
			if err := os.Chtimes(big, time.Now(), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		resetPeakRSS()
		stopHeap := make(chan struct{})
		if p := os.Getenv("QUIESCE_SCALE_HEAP"); p != "" {
			go func() {
				for i := 0; ; i++ {
					select {
					case <-stopHeap:
						return
					case <-time.After(10 * time.Second):
						writeHeap(t, fmt.Sprintf("%s-during-%d", p, i))
					}
				}
			}()
		}
		res, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
		close(stopHeap)
		if err != nil {
			t.Fatal(err)
		}
		if p := os.Getenv("QUIESCE_SCALE_HEAP"); p != "" {
			writeHeap(t, p+"-"+strconv.Itoa(int(version)))
		}
		idx, n := indexBlobs(cfg.Path)
		t.Logf("%d GB, %s: %v; blocks written %d, reused %d; uploaded %d MB; index %.1f MB in %d blobs; peak RSS %d MB",
			gb, phase, res.Duration.Round(time.Second), res.BlocksWritten, res.BlocksReused, res.BytesUploaded>>20,
			float64(idx)/1e6, n, peakRSS()>>20)
	}
}

// changed: 1 block in 100, scattered (block number times a large odd
// constant, modulo 100).
func genChanged(k uint64) bool { return (k*0x9E3779B97F4A7C15)>>32%100 == 0 }

type genDir struct {
	kfs.Directory
	version *uint64
}

func (d genDir) Iterate(ctx context.Context) (kfs.DirectoryIterator, error) {
	it, err := d.Directory.Iterate(ctx)
	if err != nil {
		return nil, err
	}
	return genIter{DirectoryIterator: it, d: d}, nil
}

type genIter struct {
	kfs.DirectoryIterator
	d genDir
}

func (i genIter) Next(ctx context.Context) (kfs.Entry, error) {
	e, err := i.DirectoryIterator.Next(ctx)
	if f, ok := e.(kfs.File); ok && err == nil {
		return genFile{File: f, version: *i.d.version}, nil
	}
	return e, err
}

type genFile struct {
	kfs.File
	version uint64
}

func (f genFile) Open(context.Context) (kfs.Reader, error) {
	return &genReader{f: f, size: f.Size()}, nil
}

type genReader struct {
	f         genFile
	size, pos int64
}

func (r *genReader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.size-r.pos))
	p = p[:n]
	clear(p)
	const bs = blockSize
	for k := r.pos / bs; k*bs < r.pos+int64(n); k++ {
		var h [16]byte
		v := uint64(0)
		if r.f.version > 0 && genChanged(uint64(k)) {
			v = r.f.version
		}
		binary.LittleEndian.PutUint64(h[:], uint64(k))
		binary.LittleEndian.PutUint64(h[8:], v)
		for i := range h {
			if at := k*bs + int64(i) - r.pos; at >= 0 && at < int64(n) {
				p[at] = h[i]
			}
		}
	}
	r.pos += int64(n)
	return n, nil
}

func (r *genReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += r.pos
	case io.SeekEnd:
		off += r.size
	}
	r.pos = off
	return off, nil
}

func (r *genReader) Close() error              { return nil }
func (r *genReader) Entry() (kfs.Entry, error) { return r.f, nil }

// indexBlobs sums kopia's index blobs (names starting with "x").
func indexBlobs(repo string) (bytes int64, n int) {
	_ = filepath.Walk(repo, func(p string, fi os.FileInfo, err error) error {
		rel, _ := filepath.Rel(repo, p)
		if err == nil && fi.Mode().IsRegular() && strings.HasPrefix(rel, "x") {
			bytes += fi.Size()
			n++
		}
		return nil
	})
	return bytes, n
}

// resetPeakRSS restarts the kernel's high-water mark of this process.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func writeHeap(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		t.Fatal(err)
	}
}
