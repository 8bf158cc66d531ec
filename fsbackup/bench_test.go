package fsbackup

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// benchData writes ~300 MB: 2000 small files and four 64 MB files, half
// random and half text-like.
func benchData(b *testing.B) string {
	dir := filepath.Join(b.TempDir(), "vol")
	rng := rand.New(rand.NewChaCha8([32]byte{3}))
	text := func(n int) []byte {
		out := make([]byte, 0, n+100)
		for len(out) < n {
			out = fmt.Appendf(out, "2026-11-26T00:00:%02d INFO order=%d amount=%d status=ok\n", rng.IntN(60), rng.IntN(1<<30), rng.IntN(10000))
		}
		return out[:n]
	}
	random := func(n int) []byte {
		out := make([]byte, n)
		for i := range out {
			out[i] = byte(rng.Uint32())
		}
		return out
	}
	for i := range 2000 {
		n := 1024 + rng.IntN(39*1024)
		data := random(n)
		if i%2 == 0 {
			data = text(n)
		}
		writeFile(b, filepath.Join(dir, "small", fmt.Sprintf("d%02d", i/100), fmt.Sprintf("f%04d", i)), data, 0o644)
	}
	for i := range 4 {
		data := random(64 << 20)
		if i%2 == 0 {
			data = text(64 << 20)
		}
		writeFile(b, filepath.Join(dir, fmt.Sprintf("big%d", i)), data, 0o644)
	}
	return dir
}

// BenchmarkBackupFormats measures one full backup per repository format and
// compression, and reports each as a ratio to kopia's defaults (BLAKE2B,
// dynamic buzhash splitter, no compression) measured in the same run:
//
//	go test -run '^$' -bench BackupFormats -benchtime 1x ./fsbackup
func BenchmarkBackupFormats(b *testing.B) {
	dir := benchData(b)
	type variant struct {
		name        string
		f           Format
		compression string
	}
	variants := []variant{
		{"kopia-defaults", Format{Hash: "BLAKE2B-256-128", Splitter: "DYNAMIC-4M-BUZHASH"}, "none"},
		{"blake3-buzhash-zstd", Format{Hash: "BLAKE3-256-128", Splitter: "DYNAMIC-4M-BUZHASH"}, "zstd-fastest"},
		{"blake3-buzhash-none", Format{Hash: "BLAKE3-256-128", Splitter: "DYNAMIC-4M-BUZHASH"}, "none"},
		{"blake3-fixed4m-none", Format{Hash: "BLAKE3-256-128", Splitter: "FIXED-4M"}, "none"},
		{"blake3-fixed4m-zstd", Format{Hash: "BLAKE3-256-128", Splitter: "FIXED-4M"}, "zstd-fastest"},
		{"blake3-fixed4m-s2", Format{Hash: "BLAKE3-256-128", Splitter: "FIXED-4M"}, "s2-default"},
		{"blake3-fixed4m-lz4", Format{Hash: "BLAKE3-256-128", Splitter: "FIXED-4M"}, "lz4"},
		{"blake3-buzhash-s2", Format{Hash: "BLAKE3-256-128", Splitter: "DYNAMIC-4M-BUZHASH"}, "s2-default"},
	}
	var base time.Duration
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			for range b.N {
				cfg := testConfig(b, filepath.Join(b.TempDir(), "repo"))
				e, err := Create(b.Context(), cfg, v.f)
				if err != nil {
					b.Fatal(err)
				}
				e.Compression = v.compression
				start := time.Now()
				res, err := e.Backup(b.Context(), dir, BackupOptions{Source: testSource})
				d := time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if v.name == "kopia-defaults" {
					base = d
				}
				b.ReportMetric(float64(res.BytesRead)/1e6/d.Seconds(), "MB/s")
				b.ReportMetric(float64(res.BytesUploaded)/1e6, "MB-stored")
				if base > 0 {
					b.ReportMetric(base.Seconds()/d.Seconds(), "x-vs-kopia-defaults")
				}
				_ = e.Close(b.Context())
				_ = os.RemoveAll(cfg.Path)
			}
		})
	}
}

// BenchmarkBlockLayout measures a full backup and a restore of two 256 MiB
// files (random, or log-like text) in the block layout, as ratios to
// kopia's own layout (FIXED-4M) measured in the same run:
//
//	go test -run '^$' -bench BlockLayout -benchtime 1x ./fsbackup
func BenchmarkBlockLayout(b *testing.B) {
	for _, kind := range []string{"random", "text"} {
		dir := filepath.Join(b.TempDir(), "vol")
		rng := rand.New(rand.NewChaCha8([32]byte{4}))
		for i := range 2 {
			data := make([]byte, 0, 256<<20+100)
			if kind == "text" {
				for len(data) < 256<<20 {
					data = fmt.Appendf(data, "2026-11-26T00:00:%02d INFO order=%d amount=%d status=ok\n", rng.IntN(60), rng.IntN(1<<30), rng.IntN(10000))
				}
			} else {
				data = data[:256<<20]
				for j := 0; j < len(data); j += 8 {
					binary.LittleEndian.PutUint64(data[j:], rng.Uint64())
				}
			}
			writeFile(b, filepath.Join(dir, fmt.Sprintf("seg%d", i)), data[:256<<20], 0o644)
		}
		var baseBackup, baseRestore time.Duration
		for _, v := range []struct {
			name string
			min  int64
		}{{"kopia-layout", -1}, {"blocks", 64 << 20}} {
			b.Run(kind+"/"+v.name, func(b *testing.B) {
				for range b.N {
					cfg := testConfig(b, filepath.Join(b.TempDir(), "repo"))
					e, err := Create(b.Context(), cfg, Format{})
					if err != nil {
						b.Fatal(err)
					}
					e.BlockLayoutMin = v.min
					start, cpu := time.Now(), cpuSeconds()
					res, err := e.Backup(b.Context(), dir, BackupOptions{Source: testSource})
					backup := time.Since(start)
					b.ReportMetric(cpuSeconds()-cpu, "backup-cpu-s")
					if err != nil {
						b.Fatal(err)
					}
					start, cpu = time.Now(), cpuSeconds()
					if _, err := e.Restore(b.Context(), res.SnapshotID, filepath.Join(b.TempDir(), "r"), RestoreOptions{}); err != nil {
						b.Fatal(err)
					}
					restore := time.Since(start)
					b.ReportMetric(cpuSeconds()-cpu, "restore-cpu-s")
					if v.min < 0 {
						baseBackup, baseRestore = backup, restore
					}
					b.ReportMetric(float64(res.BytesRead)/1e6/backup.Seconds(), "backup-MB/s")
					b.ReportMetric(float64(res.BytesRead)/1e6/restore.Seconds(), "restore-MB/s")
					b.ReportMetric(float64(res.BytesUploaded)/1e6, "MB-stored")
					if baseBackup > 0 {
						b.ReportMetric(baseBackup.Seconds()/backup.Seconds(), "backup-x-vs-kopia-layout")
						b.ReportMetric(baseRestore.Seconds()/restore.Seconds(), "restore-x-vs-kopia-layout")
					}
					_ = e.Close(b.Context())
					_ = os.RemoveAll(cfg.Path)
				}
			})
		}
	}
}

// cpuSeconds is this process's user+system CPU time: on a shared machine
// it varies less than wall time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
