package fsbackup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	kfs "github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/compression"
	"github.com/kopia/kopia/repo/content"
	"github.com/kopia/kopia/repo/object"
	"github.com/kopia/kopia/snapshot"
	"github.com/kopia/kopia/snapshot/policy"
	"golang.org/x/sync/errgroup"

	"github.com/quiesce-dev/quiesce/fsbackup/blocksums"
)

// Large files (database segments) are stored in a block layout of our own,
// made of plain kopia objects that kopia's restore, verify and CLI read
// unchanged: the file is an index of segments of segmentSize bytes, each
// segment an index of blocks of blockSize bytes.
//
// Why: databases rewrite 8 KB pages in place at random offsets, and kopia's
// splitters (FIXED-128K at the smallest, per repository, never per file)
// store a whole chunk again for one changed page: 1% of pages touched 99%
// of 4 MiB chunks and 15% of 128 KiB ones. 16 KiB blocks hold two pages, so
// 1% of pages touches ~2% of blocks and 10% touches ~19%. Segments keep
// every index small (256 entries) and a reader's buffer at 4 MiB, as with
// FIXED-4M: one flat index of a 100 GB file would hold 6.5 million entries
// in memory.
//
// Why not kopia's own incremental: kopia rereads and rehashes (keyed
// BLAKE3) every byte of a changed file. The block layout keeps an xxhash64
// per block from the previous backup (blocksums, in the cache directory);
// a block whose fast sum is unchanged reuses the previous snapshot's block
// object unhashed, and a segment with no changed block reuses the previous
// segment whole.
const (
	blockSize   = 16 << 10
	segmentSize = 4 << 20
	// DefaultBlockLayoutMin: files at least this large use the block layout.
	// Its cost is per block (a kopia content each: hash, encryption, index
	// entry, a read on restore): a full backup of such a file took 1.3-3x
	// the CPU of FIXED-4M and a restore 1.2-1.5x (docs/benchmarks.md). 512
	// MiB keeps it to database segments (PostgreSQL's are 1 GiB) and keeps
	// logs and other large files at kopia's speed.
	DefaultBlockLayoutMin = 512 << 20
	// blockWorkers write the changed segments of one file at once.
	blockWorkers = 2
	// flushEvery: kopia keeps the index entries of a write session in
	// memory (~150 bytes each) until it flushes; a 100 GB file is 6.5
	// million blocks, so the session is flushed every 64Ki blocks written
	// (1 GiB), as kopia's own checkpoints do.
	flushEvery = 64 << 10
)

// indirect is kopia's index object format ("kopia:indirect"), as its object
// reader decodes it.
type indirect struct {
	StreamID string                       `json:"stream"`
	Entries  []object.IndirectObjectEntry `json:"entries"`
}

// blockStore writes the large files of one backup in the block layout.
type blockStore struct {
	w        repo.RepositoryWriter
	prevRoot kfs.Directory // the previous snapshot's root; nil for a full backup
	pol      *policy.Policy
	metaComp compression.Name
	sumsDir  string // "": no block sums kept
	key      string // the source, for sums file names
	min      int64
	hashed   func(int64)

	mu   sync.Mutex
	ours map[object.ID]bool // file objects this backup wrote (see blockRepo)

	reused, written atomic.Int64 // blocks
	sinceFlush      atomic.Int64
}

// blockRepo is the uploader's repository: kopia verifies every placeholder
// entry by listing all of its contents into a map (VerifyObject), which
// for a 100 GB file would hold 6.5 million content IDs. The objects this
// backup just wrote need no such check.
type blockRepo struct {
	repo.RepositoryWriter
	s *blockStore
}

func (r blockRepo) VerifyObject(ctx context.Context, id object.ID) ([]content.ID, error) {
	if r.s.isOurs(id) {
		return nil, nil
	}
	return r.RepositoryWriter.VerifyObject(ctx, id) //nolint:wrapcheck // kopia's, passed through
}

func (s *blockStore) comp(f kfs.File) compression.Name {
	return s.pol.CompressionPolicy.CompressorForFile(f)
}

func (s *blockStore) isOurs(id object.ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ours[id]
}

// store writes one file in the block layout and returns its entry.
func (s *blockStore) store(ctx context.Context, f kfs.File, rel string) (*snapshot.DirEntry, error) {
	prev := s.previous(ctx, rel)
	var prevSegs []object.IndirectObjectEntry
	var old *blocksums.Reader
	if prev != nil && s.sumsDir != "" {
		// Reuse needs both: the previous object in this layout, and sums
		// that were written for exactly that object.
		if r, err := blocksums.Open(s.sumsPath(rel), prev.ObjectID.String(), blockSize); err == nil {
			if prevSegs = s.segments(ctx, prev.ObjectID); prevSegs != nil {
				old = r
			} else {
				r.Close()
			}
		}
	}
	defer old.Close()
	var sw *blocksums.Writer
	if s.sumsDir != "" {
		sw, _ = blocksums.Create(s.sumsPath(rel), blockSize) // no sums: the next backup hashes every block
	}
	defer sw.Abort()

	in, err := f.Open(ctx)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	// The reader compares fast sums in order (the sums files are streams);
	// segments with changed blocks are written by up to blockWorkers
	// goroutines, so that one large file is not bound to one core.
	comp := s.comp(f)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(blockWorkers)
	bufs := make(chan []byte, blockWorkers+1)
	for range blockWorkers + 1 {
		bufs <- make([]byte, segmentSize)
	}
	var segs []object.IndirectObjectEntry
	var size int64
	var mu sync.Mutex
	written := map[int]object.ID{} // by segment, from the workers
	readErr := func() error {
		for i := 0; ; i++ {
			buf := <-bufs
			n, rerr := io.ReadFull(in, buf)
			if n > 0 {
				var prevSeg *object.IndirectObjectEntry
				if i < len(prevSegs) {
					prevSeg = &prevSegs[i]
				}
				same, all := compareBlocks(buf[:n], prevSeg, old, sw)
				segs = append(segs, object.IndirectObjectEntry{Start: size, Length: int64(n)})
				if all {
					segs[i].Object = prevSeg.Object
					s.reused.Add(int64(len(same)))
					bufs <- buf
				} else {
					at := size
					g.Go(func() error {
						defer func() { bufs <- buf }()
						id, err := s.writeSegment(gctx, buf[:n], prevSeg, same, comp)
						if err != nil {
							return fmt.Errorf("%s at %d: %w", rel, at, err)
						}
						mu.Lock()
						written[i] = id
						mu.Unlock()
						return nil
					})
				}
				size += int64(n)
			} else {
				bufs <- buf
			}
			if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
				return nil
			}
			if rerr != nil {
				return fmt.Errorf("read %s: %w", rel, rerr)
			}
			if err := gctx.Err(); err != nil {
				return err
			}
		}
	}()
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, readErr
	}
	for i, id := range written {
		segs[i].Object = id
	}
	var id object.ID
	if len(segs) == 0 { // emptied since it was listed: an ordinary empty object
		id, err = s.writeObject(ctx, nil, "", s.comp(f))
	} else {
		id, err = s.writeIndex(ctx, segs)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	_ = sw.Commit(id.String(), size) // see Create above
	s.mu.Lock()
	s.ours[id] = true
	s.mu.Unlock()
	return &snapshot.DirEntry{
		Name: f.Name(), Type: snapshot.EntryTypeFile, Permissions: snapshot.Permissions(f.Mode() & kfs.ModBits),
		FileSize: size, ModTime: kfs.UTCTimestampFromTime(f.ModTime()),
		UserID: f.Owner().UserID, GroupID: f.Owner().GroupID, ObjectID: id,
	}, nil
}

// compareBlocks computes the fast sum of every block of a segment (and
// records it), and compares each with the previous backup's. all: the
// previous segment can be reused whole.
func compareBlocks(data []byte, prev *object.IndirectObjectEntry, old *blocksums.Reader, sw *blocksums.Writer) (same []bool, all bool) {
	nb := (len(data) + blockSize - 1) / blockSize
	same = make([]bool, nb)
	all = prev != nil && prev.Length == int64(len(data))
	for j := range nb {
		sum := blocksums.Sum(data[j*blockSize : min((j+1)*blockSize, len(data))])
		sw.Add(sum)
		o, ok := old.Next()
		same[j] = ok && o == sum
		all = all && same[j]
	}
	return same, all
}

// writeSegment stores a segment as an index of its blocks: blocks whose
// fast sum is unchanged reuse the previous segment's block objects, the
// others are hashed and written (kopia deduplicates them).
func (s *blockStore) writeSegment(ctx context.Context, data []byte, prev *object.IndirectObjectEntry, same []bool, comp compression.Name) (object.ID, error) {
	var prevBlocks []object.IndirectObjectEntry
	if prev != nil && slices.Contains(same, true) {
		prevBlocks, _ = s.loadIndex(ctx, prev.Object) // unreadable: every block is hashed again
	}
	entries := make([]object.IndirectObjectEntry, len(same))
	for j := range same {
		b := data[j*blockSize : min((j+1)*blockSize, len(data))]
		e := object.IndirectObjectEntry{Start: int64(j * blockSize), Length: int64(len(b))}
		if same[j] && j < len(prevBlocks) && prevBlocks[j].Start == e.Start && prevBlocks[j].Length == e.Length {
			e.Object = prevBlocks[j].Object
			s.reused.Add(1)
		} else {
			id, err := s.writeObject(ctx, b, "", comp)
			if err != nil {
				return object.EmptyID, err
			}
			e.Object = id
			s.written.Add(1)
			s.hashed(int64(len(b)))
			if s.sinceFlush.Add(1) == flushEvery {
				s.sinceFlush.Store(0)
				if err := s.w.Flush(ctx); err != nil {
					return object.EmptyID, fmt.Errorf("flush: %w", err)
				}
			}
		}
		entries[j] = e
	}
	return s.writeIndex(ctx, entries)
}

func (s *blockStore) writeObject(ctx context.Context, data []byte, prefix string, comp compression.Name) (object.ID, error) {
	desc := "BLOCK"
	if prefix != "" {
		desc = "LIST(BLOCKS)"
	}
	w := s.w.NewObjectWriter(ctx, object.WriterOptions{Description: desc, Prefix: content.IDPrefix(prefix),
		Compressor: comp, MetadataCompressor: s.metaComp})
	defer w.Close() //nolint:errcheck // Result reports write errors
	if _, err := w.Write(data); err != nil {
		return object.EmptyID, fmt.Errorf("write %s: %w", desc, err)
	}
	id, err := w.Result()
	if err != nil {
		return object.EmptyID, fmt.Errorf("write %s: %w", desc, err)
	}
	return id, nil
}

// writeIndex writes an index object over entries, as kopia's own writer
// does for a file of several chunks: a metadata ("x") object, referenced
// with one more level of indirection.
func (s *blockStore) writeIndex(ctx context.Context, entries []object.IndirectObjectEntry) (object.ID, error) {
	b, err := json.Marshal(indirect{StreamID: "kopia:indirect", Entries: entries})
	if err != nil {
		return object.EmptyID, err
	}
	id, err := s.writeObject(ctx, b, "x", s.metaComp)
	if err != nil {
		return object.EmptyID, err
	}
	return object.ParseID("I" + id.String()) //nolint:wrapcheck // cannot fail: id is a metadata object
}

// loadIndex reads the entries of an index object.
func (s *blockStore) loadIndex(ctx context.Context, id object.ID) ([]object.IndirectObjectEntry, error) {
	ix, ok := id.IndexObjectID()
	if !ok {
		return nil, fmt.Errorf("object %s is not an index", id)
	}
	r, err := s.w.OpenObject(ctx, ix)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", id, err)
	}
	defer r.Close() //nolint:errcheck // read-only
	var ind indirect
	if err := json.NewDecoder(r).Decode(&ind); err != nil {
		return nil, fmt.Errorf("index %s: %w", id, err)
	}
	return ind.Entries, nil
}

// segments returns the previous object's segments if it is in the block
// layout (an index of indexes, all segments but the last full), else nil.
func (s *blockStore) segments(ctx context.Context, id object.ID) []object.IndirectObjectEntry {
	entries, err := s.loadIndex(ctx, id)
	if err != nil {
		return nil
	}
	for i, e := range entries {
		if _, ok := e.Object.IndexObjectID(); !ok || (i < len(entries)-1 && e.Length != segmentSize) {
			return nil
		}
	}
	return entries
}

// previous returns the previous snapshot's entry of the file at rel, if it
// was a regular file.
func (s *blockStore) previous(ctx context.Context, rel string) *snapshot.DirEntry {
	if s.prevRoot == nil {
		return nil
	}
	var e kfs.Entry = s.prevRoot
	for _, name := range strings.Split(rel, "/") {
		d, ok := e.(kfs.Directory)
		if !ok {
			return nil
		}
		c, err := d.Child(ctx, name)
		if err != nil {
			return nil
		}
		e = c
	}
	h, ok := e.(interface{ DirEntry() *snapshot.DirEntry })
	if !ok || h.DirEntry() == nil || h.DirEntry().Type != snapshot.EntryTypeFile {
		return nil
	}
	return h.DirEntry()
}

func (s *blockStore) sumsPath(rel string) string {
	h := sha256.Sum256([]byte(s.key + "\x00" + rel))
	return filepath.Join(s.sumsDir, hex.EncodeToString(h[:]))
}

// mapFile presents a large regular file to kopia's uploader as a
// placeholder (snapshot.HasDirEntryOrNil) that the uploader asks for its
// entry instead of reading it; smaller files and the rest are kopia's.
// Files unchanged since the previous snapshot (size, mtime, mode, owner)
// are reused by the uploader before it asks.
func (s *blockStore) mapFile(rel string, f kfs.File) kfs.Entry {
	if f.Mode().IsRegular() && f.Size() >= s.min {
		return blockFile{File: f, s: s, rel: rel}
	}
	return f
}

type blockFile struct {
	kfs.File
	s   *blockStore
	rel string
}

// DirEntryOrNil implements snapshot.HasDirEntryOrNil.
func (f blockFile) DirEntryOrNil(ctx context.Context) (*snapshot.DirEntry, error) {
	return f.s.store(ctx, f.File, f.rel)
}
