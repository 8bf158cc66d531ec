// Command fs is quiesce's volume backup benchmark (`make bench-fs`). In one
// run, on one generated dataset with a warm page cache, it measures raw read
// (tar), the kopia CLI v0.22.3 with its defaults, restic, and `quiesce fs`
// (full, unchanged, 1% changed, restore), the staged vs direct freeze window
// against a throttled S3 stand-in, and 200,000 small files. Every tool runs as
// a child process: wall time and peak RSS (getrusage) are measured the same way.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

type run struct {
	name    string
	kind    string // full, incr, incr1, restore, read, many
	seconds float64
	rssMB   float64
	cpu     float64 // user+system seconds
	engine  float64 // quiesce: Result.Duration, seconds
	stored  int64   // bytes in the repository after the run (0: n/a)
	note    string
	out     []byte
	// database rows
	fullSeconds, addedPct   float64 // incrementals: the full's seconds, % of its stored bytes added
	readSeconds, writtenPct float64 // staged capture: reading the changed files; bytes written / changed
}

type bench struct {
	rounds                       int
	work, quiesce, kopia, restic string
	datasetBytes                 int64
	datasetFiles                 int
	dbSize                       int64
	runs                         []run
}

const password = "bench-password"

func main() {
	b := &bench{}
	flag.IntVar(&b.rounds, "rounds", 3, "full and unchanged backups are repeated (fresh repositories) and the fastest kept, against noise from other load")
	flag.StringVar(&b.work, "work", "/var/tmp/quiesce-bench", "work directory (datasets, repositories)")
	flag.StringVar(&b.quiesce, "quiesce", "bin/quiesce", "quiesce binary")
	flag.StringVar(&b.kopia, "kopia", "bin/kopia", "kopia CLI v0.22.3 binary (tools/kopia)")
	flag.StringVar(&b.restic, "restic", "restic", "restic binary")
	out := flag.String("out", "", "also write the markdown report here")
	small := flag.Int("small", 15000, "small files in the main dataset")
	largeMB := flag.Int("large-mb", 300, "size of each of the four large files, MB")
	many := flag.Int("many", 200000, "files in the many-small-files dataset (0: skip)")
	freezeMB := flag.Int("freeze-mb", 2000, "size of the freeze-window volume, MB (0: skip)")
	rate := flag.Float64("rate-mbps", 100, "throttle of the S3 stand-in for the freeze window, MB/s")
	dbMB := flag.Int("db-mb", 1024, "size of each of the four database segment files, MB (0: skip)")
	dbVariants := flag.String("db-variants", "FIXED-4M,blocks", "database dataset: blocks (quiesce's default layout) and kopia's own layout with these splitters")
	only := flag.String("only", "", "run only this part (database): for quick measurements")
	flag.Parse()
	log.SetFlags(log.Ltime)
	for _, p := range []*string{&b.quiesce, &b.kopia, &b.restic} {
		abs, err := exec.LookPath(*p)
		if err != nil {
			log.Fatalf("%s not found: %v (run `make bench-fs`, which builds it)", *p, err)
		}
		*p, _ = filepath.Abs(abs)
	}
	must(os.MkdirAll(b.work, 0o755))

	if *only == "database" {
		b.database(*dbMB, strings.Split(*dbVariants, ","))
		report := b.report()
		fmt.Print(report)
		if *out != "" {
			must(os.WriteFile(*out, []byte(report), 0o644))
		}
		return
	}
	data := filepath.Join(b.work, "dataset")
	log.Printf("generating dataset in %s", data)
	b.datasetFiles, b.datasetBytes = generate(data, *small, *largeMB)
	log.Printf("dataset: %d files, %.2f GB", b.datasetFiles, float64(b.datasetBytes)/1e9)

	// Each part's repositories are removed once it is measured: the
	// database part needs ~17 GB at its peak.
	done := func(dirs ...string) {
		for _, d := range dirs {
			must(os.RemoveAll(filepath.Join(b.work, d)))
		}
	}
	b.raw(data)
	b.kopiaCLI(data)
	done("kopia")
	b.resticRuns(data)
	done("restic")
	for _, c := range []string{"", "none", "zstd-fastest"} {
		b.quiesceRuns(data, c)
		done("quiesce-" + c)
	}
	if *freezeMB > 0 {
		b.freezeWindow(*freezeMB, *rate)
		done("freeze-staging")
	}
	if *many > 0 {
		b.manyFiles(*many)
		done("many-repos")
	}
	if *dbMB > 0 {
		b.database(*dbMB, strings.Split(*dbVariants, ","))
	}
	report := b.report()
	fmt.Print(report)
	if *out != "" {
		must(os.WriteFile(*out, []byte(report), 0o644))
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// exe runs a tool, measuring wall time and peak RSS; stdout is returned
// (and read fully, so that tar really reads every byte).
//
// Peak RSS comes from GNU time (-f %M): Go starts children with a vfork-like
// clone, so the child's own rusage would include this process's memory.
func (b *bench) exe(env []string, name string, args ...string) (run, error) {
	rssFile := filepath.Join(b.work, ".rss")
	_ = os.Remove(rssFile)
	cmd := exec.Command("/usr/bin/time", append([]string{"-f", "%M %U %S", "-o", rssFile, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if filepath.Base(name) == "tar" {
		cmd.Stdout = io.Discard
	}
	start := time.Now()
	err := cmd.Run()
	r := run{seconds: time.Since(start).Seconds(), out: out.Bytes()}
	if kb, err := os.ReadFile(rssFile); err == nil {
		lines := strings.Split(strings.TrimSpace(string(kb)), "\n")
		var v, user, sys float64
		if _, err := fmt.Sscan(lines[len(lines)-1], &v, &user, &sys); err == nil {
			r.rssMB, r.cpu = v/1024, user+sys
		}
	}
	if err != nil {
		return r, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return r, nil
}

// best runs f b.rounds times and keeps the fastest run.
func (b *bench) best(f func() run) run {
	var best run
	for i := range b.rounds {
		r := f()
		if i == 0 || r.seconds < best.seconds {
			best = r
		}
	}
	return best
}

func (b *bench) record(name, kind string, r run, stored int64, note string) {
	r.name, r.kind, r.stored, r.note = name, kind, stored, note
	b.runs = append(b.runs, r)
	log.Printf("%-40s %8.2fs  rss %6.0f MB  %s", name, r.seconds, r.rssMB, note)
}

func (b *bench) raw(data string) {
	_, err := b.exe(nil, "tar", "-cf", "-", "-C", data, ".") // warm the page cache
	must(err)
	r, err := b.exe(nil, "tar", "-cf", "-", "-C", data, ".")
	must(err)
	b.record("raw read (tar -cf - | discard)", "read", r, 0, "")
}

// warm reads a repository once so that restores start from the same warm
// page cache whatever ran before them.
func (b *bench) warm(dir string) {
	_, err := b.exe(nil, "tar", "-cf", "-", "-C", dir, ".")
	must(err)
}

func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func (b *bench) kopiaCLI(data string) {
	base := filepath.Join(b.work, "kopia")
	repo, cfg := filepath.Join(base, "repo"), filepath.Join(base, "repository.config")
	env := []string{"KOPIA_PASSWORD=" + password, "KOPIA_CHECK_FOR_UPDATES=false", "KOPIA_LOG_DIR=" + filepath.Join(base, "logs")}
	c := []string{"--config-file", cfg}
	full := b.best(func() run {
		must(os.RemoveAll(base))
		_, err := b.exe(env, b.kopia, append([]string{"repository", "create", "filesystem", "--path", repo,
			"--cache-directory", filepath.Join(base, "cache")}, c...)...)
		must(err)
		r, err := b.exe(env, b.kopia, append([]string{"snapshot", "create", data}, c...)...)
		must(err)
		return r
	})
	b.record("kopia CLI full", "full", full, dirBytes(repo), "defaults")
	unchanged := b.best(func() run {
		r, err := b.exe(env, b.kopia, append([]string{"snapshot", "create", data}, c...)...)
		must(err)
		return r
	})
	b.record("kopia CLI unchanged", "incr", unchanged, dirBytes(repo), "defaults")
	changeOnePercent(data, 1)
	r, err := b.exe(env, b.kopia, append([]string{"snapshot", "create", data}, c...)...)
	must(err)
	b.record("kopia CLI 1% changed", "incr1", r, dirBytes(repo), "")
	list, err := b.exe(env, b.kopia, append([]string{"snapshot", "list", data, "--json"}, c...)...)
	must(err)
	var snaps []struct {
		ID string `json:"id"`
	}
	must(json.Unmarshal(list.out, &snaps))
	target := filepath.Join(base, "restore")
	b.warm(repo)
	r, err = b.exe(env, b.kopia, append([]string{"snapshot", "restore", snaps[len(snaps)-1].ID, target}, c...)...)
	must(err)
	b.record("kopia CLI restore", "restore", r, 0, "")
	must(os.RemoveAll(target))
}

func (b *bench) resticRuns(data string) {
	base := filepath.Join(b.work, "restic")
	repo := filepath.Join(base, "repo")
	env := []string{"RESTIC_PASSWORD=" + password, "RESTIC_CACHE_DIR=" + filepath.Join(base, "cache")}
	full := b.best(func() run {
		must(os.RemoveAll(base))
		_, err := b.exe(env, b.restic, "-r", repo, "init")
		must(err)
		r, err := b.exe(env, b.restic, "-r", repo, "backup", "-q", data)
		must(err)
		return r
	})
	b.record("restic full", "full", full, dirBytes(repo), "Debian restic "+resticVersion(b.restic))
	unchanged := b.best(func() run {
		r, err := b.exe(env, b.restic, "-r", repo, "backup", "-q", data)
		must(err)
		return r
	})
	b.record("restic unchanged", "incr", unchanged, dirBytes(repo), "")
	changeOnePercent(data, 2)
	r, err := b.exe(env, b.restic, "-r", repo, "backup", "-q", data)
	must(err)
	b.record("restic 1% changed", "incr1", r, dirBytes(repo), "")
}

type quiesceOut struct {
	Result struct {
		SnapshotID    string
		Files         int64
		BytesHashed   int64
		BytesUploaded int64
		Duration      time.Duration
	} `json:"result"`
	CaptureSeconds float64 `json:"captureSeconds"`
	UploadSeconds  float64 `json:"uploadSeconds"`
}

func (b *bench) quiesceRuns(data, compression string) {
	label := "quiesce"
	if compression != "" {
		label += " (" + compression + ")"
	}
	base := filepath.Join(b.work, "quiesce-"+compression)
	repo := filepath.Join(base, "repo")
	env := []string{"QUIESCE_REPO_PASSWORD=" + password}
	c := []string{"--repo", repo, "--cache-dir", filepath.Join(base, "cache")}
	args := append([]string{"fs", "backup", data, "--source", "bench/dataset/data", "--json"}, c...)
	if compression != "" {
		args = append(args, "--compression", compression)
	}
	var last quiesceOut
	backup := func() run {
		r, err := b.exe(env, b.quiesce, args...)
		must(err)
		must(json.Unmarshal(r.out, &last))
		r.engine = last.Result.Duration.Seconds()
		r.note = fmt.Sprintf("hashed %.0f MB, uploaded %.0f MB; in-engine %.2fs", float64(last.Result.BytesHashed)/1e6,
			float64(last.Result.BytesUploaded)/1e6, last.Result.Duration.Seconds())
		return r
	}
	full := b.best(func() run {
		must(os.RemoveAll(base))
		_, err := b.exe(env, b.quiesce, append([]string{"repo", "init"}, c...)...)
		must(err)
		return backup()
	})
	b.record(label+" full", "full", full, dirBytes(repo), full.note)
	if compression != "" {
		return // variants: full backup only
	}
	unchanged := b.best(backup)
	b.record(label+" unchanged", "incr", unchanged, dirBytes(repo), unchanged.note)
	changeOnePercent(data, 3)
	r := backup()
	b.record(label+" 1% changed", "incr1", r, dirBytes(repo), r.note)
	target := filepath.Join(base, "restore")
	b.warm(repo)
	r, err := b.exe(env, b.quiesce, append([]string{"fs", "restore", last.Result.SnapshotID, target}, c...)...)
	must(err)
	b.record(label+" restore", "restore", r, 0, "")
	must(os.RemoveAll(target))
}

func resticVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return ""
	}
	f := strings.Fields(string(out))
	if len(f) > 1 {
		return f[1]
	}
	return ""
}
