package staging

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// BlockSize is the unit a capture compares and writes: a filesystem block,
// so that a rewritten 8 KB database page costs two blocks, not a whole file.
const BlockSize = 4096

const (
	sumsDir  = "sums"
	bootFile = "BOOT"
	// readChunk is how much of a live file is read at once.
	readChunk = 1 << 20
)

// Range is a byte range of a file that a capture found changed.
type Range struct {
	Off int64 `json:"off"`
	Len int64 `json:"len"`
}

// sums holds one xxhash64 per block of a staged file, so that a capture
// reads only the live file (from page cache) and never the staged copy.
// A sums file is trusted only when written by this boot (see bootFile):
// the capture does not fsync, so after a node crash data and sums may
// disagree and the capture compares against the staged data instead.
func sumsPath(stagingDir, rel string) string { return filepath.Join(stagingDir, sumsDir, rel) }

func blockSum(b []byte) uint64 { return xxhash.Sum64(b) }

// loadSums returns the block sums of a staged file of size n, or nil when
// they are missing or do not match its size (then the caller compares data).
func loadSums(stagingDir, rel string, n int64) []uint64 {
	b, err := os.ReadFile(sumsPath(stagingDir, rel))
	if err != nil || int64(len(b)) != blocks(n)*8 {
		return nil
	}
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	return out
}

func blocks(n int64) int64 { return (n + BlockSize - 1) / BlockSize }

// sumsOf hashes every block of b (the last one may be short).
func sumsOf(b []byte) []uint64 {
	out := make([]uint64, 0, blocks(int64(len(b))))
	for off := 0; off < len(b); off += BlockSize {
		out = append(out, blockSum(b[off:min(off+BlockSize, len(b))]))
	}
	return out
}

// writeSums writes sums for blocks starting at block index first.
func writeSums(f *os.File, first int64, sums []uint64) error {
	b := make([]byte, 8*len(sums))
	for i, s := range sums {
		binary.LittleEndian.PutUint64(b[i*8:], s)
	}
	_, err := f.WriteAt(b, first*8)
	return err
}

// bootID identifies this boot of the node; sums from another boot are not
// trusted (writes since the last fsync may be lost).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// sumsTrusted reports whether the sums under stagingDir were written by this
// boot and no capture was interrupted since.
func sumsTrusted(stagingDir string) bool {
	b, err := os.ReadFile(filepath.Join(stagingDir, sumsDir, bootFile))
	id := bootID()
	return err == nil && id != "" && string(b) == id
}

// diffFile compares the live file src with the staged file dst (by sums, or
// by reading dst when sums is nil) block by block and calls emit for each
// run of differing blocks (and for data past the staged file's end) with the
// live bytes. It returns the live size it read.
// Without sums it also returns every live block's sum, for the staged
// copy's new sums file.
func diffFile(src, dst string, dstSize int64, sums []uint64, emit func(off int64, data []byte) error) (int64, []uint64, error) {
	var live []uint64
	n, err := diffBlocks(src, dst, dstSize, sums, emit, func(b []byte) {
		if sums == nil {
			live = append(live, blockSum(b))
		}
	})
	return n, live, err
}

func diffBlocks(src, dst string, dstSize int64, sums []uint64, emit func(off int64, data []byte) error, each func([]byte)) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	var old *os.File
	if sums == nil {
		if old, err = os.Open(dst); err != nil {
			return 0, err
		}
		defer old.Close()
	}
	buf, oldBuf := make([]byte, readChunk), make([]byte, readChunk)
	var off int64
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			chunk := buf[:n]
			var oldChunk []byte
			if old != nil && off < dstSize {
				m, err := old.ReadAt(oldBuf[:min(int64(n), dstSize-off)], off)
				if err != nil && !errors.Is(err, io.EOF) {
					return off, fmt.Errorf("read staged %s: %w", dst, err)
				}
				oldChunk = oldBuf[:m]
			}
			runStart := -1
			flush := func(end int) error {
				if runStart < 0 {
					return nil
				}
				err := emit(off+int64(runStart), chunk[runStart:end])
				runStart = -1
				return err
			}
			for b := 0; b < n; b += BlockSize {
				e := min(b+BlockSize, n)
				each(chunk[b:e])
				if !sameBlock(chunk[b:e], off+int64(b), dstSize, sums, oldChunk, b) {
					if runStart < 0 {
						runStart = b
					}
					continue
				}
				if err := flush(b); err != nil {
					return off, err
				}
			}
			if err := flush(n); err != nil {
				return off, err
			}
			off += int64(n)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return off, nil
		}
		if rerr != nil {
			return off, rerr
		}
	}
}

// sameBlock: a live block equals the staged one when it lies inside the
// staged file, has the same length there, and its sum (or bytes) match.
func sameBlock(live []byte, at, dstSize int64, sums []uint64, oldChunk []byte, rel int) bool {
	if at+int64(len(live)) > dstSize || (at+int64(len(live)) < dstSize && len(live) < BlockSize) {
		return false
	}
	if sums != nil {
		return sums[at/BlockSize] == blockSum(live)
	}
	return rel+len(live) <= len(oldChunk) && bytes.Equal(live, oldChunk[rel:rel+len(live)])
}
