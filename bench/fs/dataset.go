package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// generate writes the main dataset once (reused when present): n small
// files of 1-40 KB, half text-like (compressible) and half random, and four
// 300 MB files, two random and two text-like: about 1.5 GB.
func generate(dir string, n, largeMB int) (files int, bytes int64) {
	marker := filepath.Join(dir, ".complete")
	if _, err := os.Stat(marker); err != nil {
		must(os.RemoveAll(dir))
		rng := rand.New(rand.NewChaCha8([32]byte{1}))
		for i := range n {
			size := 1024 + rng.IntN(39*1024)
			p := filepath.Join(dir, "small", fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d", i))
			writeData(p, size, i%2 == 0, rng)
		}
		for i := range 4 {
			writeData(filepath.Join(dir, "large", fmt.Sprintf("big%d.dat", i)), largeMB<<20, i%2 == 0, rng)
		}
		must(os.WriteFile(marker, nil, 0o644))
	}
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			files++
			bytes += fi.Size()
		}
		return nil
	})
	return files, bytes
}

// fill returns size bytes: random, or log-like lines that compress about 4:1.
func fill(size int, text bool, rng *rand.Rand) []byte {
	b := make([]byte, 0, size+128)
	if !text {
		b = b[:size]
		for i := 0; i+8 <= size; i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				b[i+j] = byte(v >> (8 * j))
			}
		}
		return b
	}
	levels := []string{"INFO", "WARN", "DEBUG", "ERROR"}
	for len(b) < size {
		b = fmt.Appendf(b, "2026-11-26T00:%02d:%02d.%06dZ %s order=%d customer=%d amount=%d.%02d status=ok\n",
			rng.IntN(60), rng.IntN(60), rng.IntN(1000000), levels[rng.IntN(4)], rng.IntN(1<<30),
			rng.IntN(100000), rng.IntN(10000), rng.IntN(100))
	}
	return b[:size]
}

func writeData(p string, size int, text bool, rng *rand.Rand) {
	must(os.MkdirAll(filepath.Dir(p), 0o755))
	f, err := os.Create(p)
	must(err)
	for size > 0 {
		n := min(size, 8<<20)
		_, err := f.Write(fill(n, text, rng))
		must(err)
		size -= n
	}
	must(f.Close())
}

// changeOnePercent rewrites 1% of the small files (every 100th, offset by
// seed) with new content of the same size.
func changeOnePercent(dir string, seed int) {
	var small []string
	_ = filepath.Walk(filepath.Join(dir, "small"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			small = append(small, p)
		}
		return nil
	})
	sort.Strings(small)
	// Time-seeded: a rerun on a reused dataset must really change content.
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(seed)))
	for i := seed % 100; i < len(small); i += 100 {
		fi, err := os.Stat(small[i])
		must(err)
		writeData(small[i], int(fi.Size()), i%2 == 0, rng)
	}
}

// generateMany writes n files of 1-4 KB in directories of 1000.
func generateMany(dir string, n int) {
	marker := filepath.Join(dir, ".complete")
	if _, err := os.Stat(marker); err == nil {
		return
	}
	must(os.RemoveAll(dir))
	rng := rand.New(rand.NewChaCha8([32]byte{9}))
	for i := range n {
		if i%1000 == 0 {
			must(os.MkdirAll(filepath.Join(dir, fmt.Sprintf("d%04d", i/1000)), 0o755))
		}
		p := filepath.Join(dir, fmt.Sprintf("d%04d", i/1000), fmt.Sprintf("f%06d", i))
		must(os.WriteFile(p, fill(1024+rng.IntN(3*1024), i%2 == 0, rng), 0o644))
	}
	must(os.WriteFile(marker, nil, 0o644))
}
