// Package blocksums keeps, for each large file that a backup stored in
// blocks, a fast checksum (xxhash64) of every block as of that backup,
// labelled with the object the backup wrote. The next backup of the file
// reads the sums alongside the live data and hashes with the repository's
// keyed hash only the blocks whose fast sum changed.
//
// It is a cache: a missing, stale or damaged sums file makes the backup hash
// every block, which stores the same snapshot, only slower. A file is read
// and written as a stream, so memory does not grow with the file's size.
//
// Layout: one little-endian uint64 per block, then a trailer (the object
// ID, its length as uint16, the file size as uint64, the block size as
// uint32, and the magic "QBS1"). The trailer is last because the object is
// known only once the whole file was written.
package blocksums

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cespare/xxhash/v2"
)

const magic = "QBS1"

const trailerLen = 2 + 8 + 4 + len(magic)

// ErrStale: the sums describe another object (the file was backed up since,
// or by another version) or another block size.
var ErrStale = errors.New("block sums are stale")

// Sum is the fast checksum of one block.
func Sum(b []byte) uint64 { return xxhash.Sum64(b) }

// Reader streams the sums of one file, in block order.
type Reader struct {
	f    *os.File
	r    *bufio.Reader
	left int64 // sums not yet read
}

// Open opens the sums at path if they describe object with blockSize-byte
// blocks; otherwise it returns an error wrapping ErrStale (or the I/O error).
func Open(path, object string, blockSize int64) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := open(f, object, blockSize)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("block sums %s: %w", path, err)
	}
	return r, nil
}

func open(f *os.File, object string, blockSize int64) (*Reader, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() < int64(trailerLen) {
		return nil, fmt.Errorf("%w: too short", ErrStale)
	}
	var t [trailerLen]byte
	if _, err := f.ReadAt(t[:], st.Size()-int64(trailerLen)); err != nil {
		return nil, err
	}
	if string(t[14:]) != magic {
		return nil, fmt.Errorf("%w: not a sums file", ErrStale)
	}
	olen := int64(binary.LittleEndian.Uint16(t[0:]))
	size := int64(binary.LittleEndian.Uint64(t[2:]))
	bs := int64(binary.LittleEndian.Uint32(t[10:]))
	n := st.Size() - int64(trailerLen) - olen
	if bs != blockSize || n < 0 || n != 8*blocks(size, bs) {
		return nil, fmt.Errorf("%w: block size %d or length does not match", ErrStale, bs)
	}
	obj := make([]byte, olen)
	if _, err := f.ReadAt(obj, n); err != nil {
		return nil, err
	}
	if string(obj) != object {
		return nil, fmt.Errorf("%w: written for object %s, not %s", ErrStale, obj, object)
	}
	return &Reader{f: f, r: bufio.NewReaderSize(f, 64<<10), left: n / 8}, nil
}

// Next returns the next block's sum; ok is false past the last one or on a
// read error (the caller then treats the block as changed).
func (r *Reader) Next() (sum uint64, ok bool) {
	if r == nil || r.left <= 0 {
		return 0, false
	}
	var b [8]byte
	if _, err := io.ReadFull(r.r, b[:]); err != nil {
		r.left = 0
		return 0, false
	}
	r.left--
	return binary.LittleEndian.Uint64(b[:]), true
}

// Close releases the file.
func (r *Reader) Close() {
	if r != nil {
		_ = r.f.Close()
	}
}

// Writer writes the sums of one file to a temporary file next to path;
// Commit moves it into place.
type Writer struct {
	f         *os.File
	w         *bufio.Writer
	path      string
	blockSize int64
	n         int64
	err       error
}

// Create starts the sums of a file stored in blockSize-byte blocks.
func Create(path string, blockSize int64) (*Writer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &Writer{f: f, w: bufio.NewWriterSize(f, 64<<10), path: path, blockSize: blockSize}, nil
}

// Add appends the next block's sum.
func (w *Writer) Add(sum uint64) {
	if w == nil || w.err != nil {
		return
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], sum)
	_, w.err = w.w.Write(b[:])
	w.n++
}

// Commit labels the sums with the object they describe and the file's size,
// and replaces the previous sums of the file.
func (w *Writer) Commit(object string, size int64) error {
	if w == nil {
		return nil
	}
	if w.err == nil && w.n != blocks(size, w.blockSize) {
		w.err = fmt.Errorf("%d sums for %d bytes in blocks of %d", w.n, size, w.blockSize)
	}
	if w.err == nil && len(object) > 1<<16-1 {
		w.err = fmt.Errorf("object ID of %d bytes", len(object))
	}
	if w.err != nil {
		w.Abort()
		return w.err
	}
	var t [trailerLen]byte
	binary.LittleEndian.PutUint16(t[0:], uint16(len(object)))
	binary.LittleEndian.PutUint64(t[2:], uint64(size))
	binary.LittleEndian.PutUint32(t[10:], uint32(w.blockSize))
	copy(t[14:], magic)
	_, _ = w.w.WriteString(object)
	_, _ = w.w.Write(t[:])
	err := w.w.Flush()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.f.Name(), w.path)
	}
	if err != nil {
		_ = os.Remove(w.f.Name())
	}
	return err
}

// Abort drops the sums written so far; the previous sums stay.
func (w *Writer) Abort() {
	if w == nil {
		return
	}
	_ = w.f.Close()
	_ = os.Remove(w.f.Name())
}

func blocks(size, blockSize int64) int64 { return (size + blockSize - 1) / blockSize }
