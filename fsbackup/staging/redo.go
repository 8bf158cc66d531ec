package staging

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// The redo log separates reading the live volume from changing the staged
// copy. A capture first writes every changed block of the live files to
// stagingDir/redo (outside data/) and a commit record; only then does it
// change data/, by replaying the log in place. A capture that fails while
// reading (a vanished file, the freeze deadline, an I/O error) deletes the
// log and leaves the previous complete copy untouched; no file is renamed
// over another, so ext4 starts no writeback of whole files in the freeze.
// Bytes written: the changed blocks twice (log, then in place).
const redoFile = "redo"

const (
	recWrite    = 'W' // rel, off, data: live bytes at off
	recTruncate = 'T' // rel, size: the live file's size
	recSums     = 'S' // rel, every block sum of the live file (when the staged sums were not trusted)
	recCommit   = 'C'
)

type redoWriter struct {
	mu    sync.Mutex
	f     *os.File
	w     *bufio.Writer
	bytes int64 // data bytes logged
}

func createRedo(stagingDir string) (*redoWriter, error) {
	f, err := os.OpenFile(filepath.Join(stagingDir, redoFile), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	return &redoWriter{f: f, w: bufio.NewWriterSize(f, 1<<20)}, nil
}

func (r *redoWriter) record(typ byte, rel string, a int64, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var h [1 + 2 + 8 + 8]byte
	h[0] = typ
	binary.LittleEndian.PutUint16(h[1:], uint16(len(rel)))
	binary.LittleEndian.PutUint64(h[3:], uint64(a))
	binary.LittleEndian.PutUint64(h[11:], uint64(len(data)))
	if _, err := r.w.Write(h[:3]); err != nil {
		return err
	}
	if _, err := r.w.WriteString(rel); err != nil {
		return err
	}
	if _, err := r.w.Write(h[3:]); err != nil {
		return err
	}
	if _, err := r.w.Write(data); err != nil {
		return err
	}
	if typ == recWrite {
		r.bytes += int64(len(data))
	}
	return nil
}

func (r *redoWriter) write(rel string, off int64, data []byte) error {
	return r.record(recWrite, rel, off, data)
}

func (r *redoWriter) truncate(rel string, size int64) error {
	return r.record(recTruncate, rel, size, nil)
}

func (r *redoWriter) sums(rel string, sums []uint64) error {
	b := make([]byte, 8*len(sums))
	for i, s := range sums {
		binary.LittleEndian.PutUint64(b[i*8:], s)
	}
	return r.record(recSums, rel, 0, b)
}

// commit ends the log: from here on it describes a complete capture.
func (r *redoWriter) commit() error {
	if err := r.record(recCommit, "", 0, nil); err != nil {
		return err
	}
	if err := r.w.Flush(); err != nil {
		return err
	}
	return r.f.Close()
}

// abort closes and deletes an uncommitted log.
func (r *redoWriter) abort(stagingDir string) {
	_ = r.f.Close()
	_ = os.Remove(filepath.Join(stagingDir, redoFile))
}

// applyRedo replays a committed log into data/ and the block sums. Replay
// is idempotent; an uncommitted log is an error (errNoCommit) and changes
// nothing.
func applyRedo(stagingDir string) error {
	path := filepath.Join(stagingDir, redoFile)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := checkCommitted(f); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	open := func(p string) (*os.File, error) {
		if f, ok := files[p]; ok {
			return f, nil
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		files[p] = f
		return f, nil
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var buf []byte
	for {
		typ, rel, a, data, err := readRecord(r, &buf)
		if err != nil {
			return fmt.Errorf("redo log: %w", err)
		}
		if typ == recCommit {
			return nil
		}
		df, err := open(filepath.Join(stagingDir, dataDir, rel))
		if err != nil {
			return err
		}
		sf, err := open(sumsPath(stagingDir, rel))
		if err != nil {
			return err
		}
		switch typ {
		case recWrite:
			if _, err := df.WriteAt(data, a); err != nil {
				return err
			}
			if err := writeSums(sf, a/BlockSize, sumsOf(data)); err != nil {
				return err
			}
		case recTruncate:
			if err := df.Truncate(a); err != nil {
				return err
			}
			if err := sf.Truncate(blocks(a) * 8); err != nil {
				return err
			}
		case recSums:
			if err := sf.Truncate(0); err != nil {
				return err
			}
			if _, err := sf.WriteAt(data, 0); err != nil {
				return err
			}
		default:
			return fmt.Errorf("redo log: unknown record %q", typ)
		}
	}
}

var errNoCommit = errors.New("redo log has no commit record")

func checkCommitted(f *os.File) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	const tail = 1 + 2 + 8 + 8
	if st.Size() < tail {
		return errNoCommit
	}
	var b [tail]byte
	if _, err := f.ReadAt(b[:], st.Size()-tail); err != nil {
		return err
	}
	if b[0] != recCommit || binary.LittleEndian.Uint16(b[1:]) != 0 {
		return errNoCommit
	}
	return nil
}

func readRecord(r *bufio.Reader, buf *[]byte) (typ byte, rel string, a int64, data []byte, err error) {
	var h [3]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return 0, "", 0, nil, err
	}
	name := make([]byte, binary.LittleEndian.Uint16(h[1:]))
	if _, err = io.ReadFull(r, name); err != nil {
		return 0, "", 0, nil, err
	}
	var t [16]byte
	if _, err = io.ReadFull(r, t[:]); err != nil {
		return 0, "", 0, nil, err
	}
	n := binary.LittleEndian.Uint64(t[8:])
	if uint64(cap(*buf)) < n {
		*buf = make([]byte, n)
	}
	data = (*buf)[:n]
	if _, err = io.ReadFull(r, data); err != nil {
		return 0, "", 0, nil, err
	}
	return h[0], string(name), int64(binary.LittleEndian.Uint64(t[:8])), data, nil
}
