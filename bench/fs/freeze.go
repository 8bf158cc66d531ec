package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// throttle limits request bodies (uploads) to a shared rate, without the
// burst allowance of kopia's own throttler (which lets the first ~6 s of
// traffic through unthrottled and would hide the cost of a short upload).
type throttle struct {
	bytesPerSec atomic.Uint64 // math.Float64bits; 0: unlimited
	mu          sync.Mutex
	next        time.Time
}

func (t *throttle) wait(n int) {
	rate := math.Float64frombits(t.bytesPerSec.Load())
	if rate == 0 || n == 0 {
		return
	}
	t.mu.Lock()
	now := time.Now()
	if t.next.Before(now) {
		t.next = now
	}
	t.next = t.next.Add(time.Duration(float64(n) / rate * float64(time.Second)))
	d := t.next.Sub(now)
	t.mu.Unlock()
	time.Sleep(d)
}

type throttledBody struct {
	io.ReadCloser
	t *throttle
}

func (b throttledBody) Read(p []byte) (int, error) {
	if len(p) > 64<<10 {
		p = p[:64<<10]
	}
	n, err := b.ReadCloser.Read(p)
	b.t.wait(n)
	return n, err
}

// startS3 serves gofakes3 (memory backend) on loopback behind the throttle.
func startS3(t *throttle) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	h := gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true)).Server()
	go func() {
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body != nil {
				r.Body = throttledBody{ReadCloser: r.Body, t: t}
			}
			h.ServeHTTP(w, r)
		}))
	}()
	return l.Addr().String()
}

// freezeWindow compares, for a volume of sizeMB with 10% of it changed since
// the last backup and storage throttled to rateMBps, how long the
// application stays frozen: staged (capture only) vs direct (the whole
// incremental upload).
func (b *bench) freezeWindow(sizeMB int, rateMBps float64) {
	vol := filepath.Join(b.work, "freeze-vol")
	stg := filepath.Join(b.work, "freeze-staging")
	must(os.RemoveAll(stg))
	nfiles := sizeMB / 100
	if _, err := os.Stat(filepath.Join(vol, ".complete")); err != nil {
		must(os.RemoveAll(vol))
		rng := rand.New(rand.NewChaCha8([32]byte{5}))
		for i := range nfiles {
			writeData(filepath.Join(vol, fmt.Sprintf("seg%03d.dat", i)), 100<<20, false, rng)
		}
		must(os.WriteFile(filepath.Join(vol, ".complete"), nil, 0o644))
	}
	th := &throttle{}
	addr := startS3(th)
	env := []string{"QUIESCE_REPO_PASSWORD=" + password, "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench-secret"}
	repo := func(name string) []string {
		return []string{"--s3-bucket", "bench", "--s3-prefix", name + "/", "--s3-endpoint", addr, "--s3-disable-tls",
			"--cache-dir", filepath.Join(b.work, "freeze-cache-"+name)}
	}
	for _, name := range []string{"staged", "direct"} {
		must(os.RemoveAll(filepath.Join(b.work, "freeze-cache-"+name)))
		_, err := b.exe(env, b.quiesce, append([]string{"repo", "init"}, repo(name)...)...)
		must(err)
	}
	backup := func(name string, extra ...string) quiesceOut {
		args := append(append([]string{"fs", "backup", vol, "--source", "bench/db/data", "--json"}, repo(name)...), extra...)
		r, err := b.exe(env, b.quiesce, args...)
		must(err)
		var o quiesceOut
		must(json.Unmarshal(r.out, &o))
		return o
	}
	staged := []string{"--staged", "--staging-dir", stg}
	log.Printf("freeze window: initial backups of %d MB (unthrottled)", sizeMB)
	backup("staged", staged...)
	backup("direct")

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 6)) // new content on every run
	for i := 0; i < nfiles; i += 10 {                              // 10% of the volume changes
		writeData(filepath.Join(vol, fmt.Sprintf("seg%03d.dat", i)), 100<<20, false, rng)
	}
	th.bytesPerSec.Store(math.Float64bits(rateMBps * 1e6))
	s := backup("staged", staged...)
	d := backup("direct")
	note := fmt.Sprintf("%d MB volume, 10%% changed, storage throttled to %.0f MB/s", sizeMB, rateMBps)
	b.record("freeze window: staged (capture only)", "freeze-staged", run{seconds: s.CaptureSeconds}, 0, note)
	b.record("  staged upload, after the thaw", "freeze-upload", run{seconds: s.UploadSeconds}, 0,
		fmt.Sprintf("uploaded %.0f MB", float64(s.Result.BytesUploaded)/1e6))
	b.record("freeze window: direct (capture+upload)", "freeze-direct", run{seconds: d.UploadSeconds}, 0,
		fmt.Sprintf("uploaded %.0f MB", float64(d.Result.BytesUploaded)/1e6))
	if d.Result.BytesUploaded < int64(sizeMB)<<20/20 {
		log.Fatalf("freeze window: direct backup uploaded only %d bytes; the 10%% change did not happen", d.Result.BytesUploaded)
	}
}

// manyFiles backs up n small files with kopia's CLI and quiesce.
func (b *bench) manyFiles(n int) {
	dir := filepath.Join(b.work, "many")
	log.Printf("generating %d small files", n)
	generateMany(dir, n)
	base := filepath.Join(b.work, "many-repos")
	must(os.RemoveAll(base))
	kenv := []string{"KOPIA_PASSWORD=" + password, "KOPIA_CHECK_FOR_UPDATES=false", "KOPIA_LOG_DIR=" + filepath.Join(base, "logs")}
	kc := []string{"--config-file", filepath.Join(base, "kopia.config")}
	_, err := b.exe(kenv, b.kopia, append([]string{"repository", "create", "filesystem", "--path", filepath.Join(base, "kopia"),
		"--cache-directory", filepath.Join(base, "kopia-cache")}, kc...)...)
	must(err)
	r, err := b.exe(kenv, b.kopia, append([]string{"snapshot", "create", dir}, kc...)...)
	must(err)
	note := fmt.Sprintf("%d files of 1-4 KB", n)
	b.record("kopia CLI full, many small files", "many-kopia", r, 0, note)
	qenv := []string{"QUIESCE_REPO_PASSWORD=" + password}
	qc := []string{"--repo", filepath.Join(base, "quiesce"), "--cache-dir", filepath.Join(base, "quiesce-cache")}
	_, err = b.exe(qenv, b.quiesce, append([]string{"repo", "init"}, qc...)...)
	must(err)
	r, err = b.exe(qenv, b.quiesce, append([]string{"fs", "backup", dir, "--source", "bench/many/data"}, qc...)...)
	must(err)
	b.record("quiesce full, many small files", "many-quiesce", r, 0, note)
	r, err = b.exe(qenv, b.quiesce, append([]string{"fs", "backup", dir, "--source", "bench/many/data"}, qc...)...)
	must(err)
	b.record("quiesce unchanged, many small files", "many-quiesce-incr", r, 0, note)
}
