package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The "database" dataset: four segment files of dbMB each, made of 8 KB
// pages that are rewritten in place at random offsets between backups, as a
// database does. Random pages, or log-like text pages (compressible).
const (
	dbFiles  = 4
	pageSize = 8192
)

type dbOut struct {
	quiesceOut
	Result struct {
		SnapshotID                  string
		BytesHashed, BytesUploaded  int64
		BlocksReused, BlocksWritten int64
		Duration                    time.Duration
	} `json:"result"`
	Capture *struct {
		CopiedBytes, LoggedBytes int64
	} `json:"capture"`
}

func generateDB(dir string, mb int, text bool) int64 {
	marker := filepath.Join(dir, ".complete")
	if _, err := os.Stat(marker); err != nil {
		must(os.RemoveAll(dir))
		seed := byte(11)
		if text {
			seed = 12
		}
		rng := rand.New(rand.NewChaCha8([32]byte{seed}))
		for i := range dbFiles {
			writeData(filepath.Join(dir, fmt.Sprintf("seg%d.dat", i)), mb<<20, text, rng)
		}
		must(os.WriteFile(marker, nil, 0o644))
	}
	return int64(dbFiles) * int64(mb) << 20
}

// churnPages rewrites pct% of every file's pages in place (distinct random
// pages, new content each run) and returns the bytes written.
func churnPages(dir string, pct float64, text bool) int64 {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var n int64
	for i := range dbFiles {
		p := filepath.Join(dir, fmt.Sprintf("seg%d.dat", i))
		fi, err := os.Stat(p)
		must(err)
		pages := int(fi.Size() / pageSize)
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		must(err)
		for _, pg := range rng.Perm(pages)[:int(float64(pages)*pct/100)] {
			_, err := f.WriteAt(fill(pageSize, text, rng), int64(pg)*pageSize)
			must(err)
			n += pageSize
		}
		must(f.Close())
	}
	return n
}

// indexBytes sums kopia's index blobs (names starting with "x") in a
// filesystem repository.
func indexBytes(repo string) int64 {
	var n int64
	_ = filepath.Walk(repo, func(p string, fi os.FileInfo, err error) error {
		rel, _ := filepath.Rel(repo, p)
		if err == nil && fi.Mode().IsRegular() && strings.HasPrefix(rel, "x") {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// database measures, for each variant, a full backup, incrementals after
// page churn and a restore, then the staged capture after 1% churn.
// Variant "blocks" is quiesce's default (large files in 16 KiB blocks, on a
// FIXED-4M repository); a splitter name (FIXED-4M, FIXED-128K) is kopia's
// own layout with that splitter (--block-layout-min -1), as before issue 18.
func (b *bench) database(mb int, variants []string) {
	for _, text := range []bool{false, true} {
		kind := "random"
		if text {
			kind = "compressible"
		}
		data := filepath.Join(b.work, "db-"+kind)
		log.Printf("generating database dataset (%s pages) in %s", kind, data)
		size := generateDB(data, mb, text)
		b.dbSize = size
		env := []string{"QUIESCE_REPO_PASSWORD=" + password}
		for _, v := range variants {
			base := filepath.Join(b.work, "db-repo")
			must(os.RemoveAll(base))
			repo := filepath.Join(base, "repo")
			c := []string{"--repo", repo, "--cache-dir", filepath.Join(base, "cache")}
			init := []string{"repo", "init"}
			if v == "blocks" {
				c = append(c, "--block-layout-min", "1") // whatever -db-mb is
			} else {
				init = append(init, "--splitter", v)
				c = append(c, "--block-layout-min", "-1")
			}
			_, err := b.exe(env, b.quiesce, append(init, c[:4]...)...)
			must(err)
			backup := func() (run, dbOut) {
				args := append([]string{"fs", "backup", data, "--source", "bench/db/data", "--json"}, c...)
				r, err := b.exe(env, b.quiesce, args...)
				must(err)
				var o dbOut
				must(json.Unmarshal(r.out, &o))
				r.engine = o.Result.Duration.Seconds()
				return r, o
			}
			b.warm(data)
			full, fo := backup()
			fullStored := dirBytes(repo)
			stored := fullStored
			label := fmt.Sprintf("db %s %s", kind, v)
			b.record(label+" full", "db-full", full, stored,
				fmt.Sprintf("index %.1f MB; in-engine %.2fs", float64(indexBytes(repo))/1e6, full.engine))
			last := fo.Result.SnapshotID
			for _, pct := range []float64{1, 10} {
				changed := churnPages(data, pct, text)
				r, o := backup()
				now := dirBytes(repo)
				r.fullSeconds, r.addedPct = full.seconds, 100*float64(now-stored)/float64(fullStored)
				b.record(fmt.Sprintf("%s %g%% pages changed", label, pct), "db-incr", r, now,
					fmt.Sprintf("added %.1f%% of the full's stored bytes (%.0f MB; pages changed %.0f MB); time %.2f of the full; hashed %.0f MB; blocks reused %d, written %d; in-engine %.2fs",
						r.addedPct, float64(now-stored)/1e6, float64(changed)/1e6, r.seconds/full.seconds,
						float64(o.Result.BytesHashed)/1e6, o.Result.BlocksReused, o.Result.BlocksWritten, r.engine))
				stored, last = now, o.Result.SnapshotID
			}
			target := filepath.Join(base, "restore")
			b.warm(repo)
			r, err := b.exe(env, b.quiesce, append([]string{"fs", "restore", last, target}, c[:4]...)...)
			must(err)
			b.record(label+" restore", "db-restore", r, 0, "the last incremental")
			must(os.RemoveAll(base))
		}
		b.stagedDB(data, kind, text, env)
	}
}

// stagedDB: a staged capture after 1% page churn, against the time to read
// the changed files from page cache.
func (b *bench) stagedDB(data, kind string, text bool, env []string) {
	base := filepath.Join(b.work, "db-staged")
	must(os.RemoveAll(base))
	stg := filepath.Join(base, "staging")
	c := []string{"--repo", filepath.Join(base, "repo"), "--cache-dir", filepath.Join(base, "cache")}
	_, err := b.exe(env, b.quiesce, append([]string{"repo", "init"}, c...)...)
	must(err)
	args := append([]string{"fs", "backup", data, "--source", "bench/db/data", "--json", "--staged", "--staging-dir", stg}, c...)
	_, err = b.exe(env, b.quiesce, args...) // initial capture and upload (and block sums)
	must(err)
	changed := churnPages(data, 1, text)
	read := readSeconds(data)
	r, err := b.exe(env, b.quiesce, args...)
	must(err)
	var o dbOut
	must(json.Unmarshal(r.out, &o))
	var copied, logged int64
	if o.Capture != nil {
		copied, logged = o.Capture.CopiedBytes, o.Capture.LoggedBytes
	}
	b.record(fmt.Sprintf("db %s staged capture, 1%% pages changed", kind), "db-capture",
		run{seconds: o.CaptureSeconds, readSeconds: read, writtenPct: 100 * float64(copied+logged) / float64(changed)}, 0,
		fmt.Sprintf("%.2f of reading the changed files (%.2fs); wrote %.0f MB (in place %.0f + redo log %.0f) for %.0f MB of changed pages (%.2fx)",
			o.CaptureSeconds/read, read, float64(copied+logged)/1e6, float64(copied)/1e6, float64(logged)/1e6,
			float64(changed)/1e6, float64(copied+logged)/float64(changed)))
	b.record(fmt.Sprintf("  db %s staged upload, after the thaw", kind), "db-upload", run{seconds: o.UploadSeconds}, 0,
		fmt.Sprintf("uploaded %.0f MB", float64(o.Result.BytesUploaded)/1e6))

	// The consistency issue's freeze target: 10% of the pages changed since
	// the last backup, several times, against a plain whole-file copy of the
	// changed files (what the capture did before it patched blocks).
	var caps, copies []float64
	var size int64
	for range stagedRepeats {
		churnPages(data, 10, text)
		r, err := b.exe(env, b.quiesce, args...)
		must(err)
		var o dbOut
		must(json.Unmarshal(r.out, &o))
		caps = append(caps, o.CaptureSeconds)
		var secs float64
		secs, size = copySeconds(data, filepath.Join(base, "copy"))
		copies = append(copies, secs)
	}
	c50, cmax, w50 := median(caps), slices.Max(caps), median(copies)
	b.record(fmt.Sprintf("db %s staged capture, 10%% pages changed (p50 of %d)", kind, stagedRepeats), "db-capture10",
		run{seconds: c50, readSeconds: w50}, 0,
		fmt.Sprintf("%.0f MB of segment files; max %.2fs; whole-file copy of the changed files p50 %.2fs (capture / copy %.2f)",
			float64(size)/1e6, cmax, w50, c50/w50))
	must(os.RemoveAll(base))
}

// stagedRepeats: captures after 10% churn, for the freeze window's p50.
const stagedRepeats = 5

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// copySeconds copies the segment files whole into dst (fresh files, no
// sync: what a whole-file staged copy costs inside the freeze) and removes
// them; it returns the time and the bytes copied.
func copySeconds(dir, dst string) (float64, int64) {
	must(os.MkdirAll(dst, 0o755))
	defer func() { must(os.RemoveAll(dst)) }()
	var n int64
	start := time.Now()
	for f := range dbFiles {
		name := fmt.Sprintf("seg%d.dat", f)
		in, err := os.Open(filepath.Join(dir, name))
		must(err)
		out, err := os.Create(filepath.Join(dst, name))
		must(err)
		c, err := io.Copy(out, in)
		must(err)
		n += c
		must(out.Close())
		must(in.Close())
	}
	return time.Since(start).Seconds(), n
}

// readSeconds is the time to read the changed files from page cache: one
// thread, 1 MiB reads, best of 3 (the first also warms the cache).
func readSeconds(dir string) float64 {
	best := 0.0
	buf := make([]byte, 1<<20)
	for i := range 3 {
		start := time.Now()
		for f := range dbFiles {
			in, err := os.Open(filepath.Join(dir, fmt.Sprintf("seg%d.dat", f)))
			must(err)
			for {
				if _, err := in.Read(buf); err != nil {
					break
				}
			}
			must(in.Close())
		}
		if d := time.Since(start).Seconds(); i == 0 || d < best {
			best = d
		}
	}
	return best
}
