package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

var baseline = map[string]string{
	"read": "kopia CLI full", "full": "kopia CLI full", "incr": "kopia CLI unchanged",
	"incr1": "kopia CLI 1% changed", "restore": "kopia CLI restore",
	"many-kopia": "kopia CLI full, many small files", "many-quiesce": "kopia CLI full, many small files",
	"many-quiesce-incr": "kopia CLI full, many small files",
	"freeze-staged":     "freeze window: direct (capture+upload)", "freeze-upload": "freeze window: direct (capture+upload)",
	"freeze-direct": "freeze window: direct (capture+upload)",
}

func (b *bench) find(name string) (run, bool) {
	for _, r := range b.runs {
		if r.name == name {
			return r, true
		}
	}
	return run{}, false
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func (b *bench) report() string {
	var w strings.Builder
	fmt.Fprintf(&w, "Run %s on %d CPUs (%s), %s/%s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		runtime.NumCPU(), cpuModel(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&w, "Dataset: %d files, %.2f GB (small files of 1-40 KB and four 300 MB files; half random, half log-like text). Warm page cache.\n\n",
		b.datasetFiles, float64(b.datasetBytes)/1e9)
	fmt.Fprintln(&w, "| run | seconds | MB/s | time / kopia CLI | CPU s | peak RSS (MB) | repository (MB) | notes |")
	fmt.Fprintln(&w, "|---|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range b.runs {
		mbps, ratio, stored := "", "", ""
		if strings.HasPrefix(r.kind, "full") || r.kind == "read" || r.kind == "restore" {
			mbps = fmt.Sprintf("%.0f", float64(b.datasetBytes)/1e6/r.seconds)
		}
		if r.kind == "db-full" || r.kind == "db-restore" {
			mbps = fmt.Sprintf("%.0f", float64(b.dbSize)/1e6/r.seconds)
		}
		if base, ok := b.find(baseline[r.kind]); ok && base.seconds > 0 {
			ratio = fmt.Sprintf("%.2f", r.seconds/base.seconds)
		}
		if r.stored > 0 {
			stored = fmt.Sprintf("%.0f", float64(r.stored)/1e6)
		}
		rss, cpu := "", ""
		if r.rssMB > 0 {
			rss, cpu = fmt.Sprintf("%.0f", r.rssMB), fmt.Sprintf("%.2f", r.cpu)
		}
		fmt.Fprintf(&w, "| %s | %.2f | %s | %s | %s | %s | %s | %s |\n", r.name, r.seconds, mbps, ratio, cpu, rss, stored, r.note)
	}
	fmt.Fprintf(&w, "\nFull and unchanged rows are the fastest of %d runs (fresh repositories for full runs); the others are single runs.", b.rounds)
	fmt.Fprintln(&w, " Seconds are whole-process wall time (start, repository open, work, flush); \"in-engine\" is Result.Duration, what an agent with an open repository pays.")
	fmt.Fprintln(&w, "\nFreeze-window rows are ratios to the direct freeze window; many-small-files rows to the kopia CLI on the same files.")
	fmt.Fprintln(&w, "\nTargets:")
	q, _ := b.find("quiesce full")
	k, _ := b.find("kopia CLI full")
	rs, _ := b.find("restic full")
	u, _ := b.find("quiesce unchanged")
	check := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	if q.seconds > 0 && k.seconds > 0 {
		fmt.Fprintf(&w, "- full backup speed vs kopia CLI defaults: %.2fx (target 1.5x): %s\n", k.seconds/q.seconds, check(k.seconds/q.seconds >= 1.5))
	}
	if q.seconds > 0 && rs.seconds > 0 {
		fmt.Fprintf(&w, "- full backup speed vs restic: %.2fx (target 2x): %s\n", rs.seconds/q.seconds, check(rs.seconds/q.seconds >= 2))
	}
	if u.seconds > 0 {
		per := u.seconds * 1.5e9 / float64(b.datasetBytes)
		eng := u.engine * 1.5e9 / float64(b.datasetBytes)
		fmt.Fprintf(&w, "- unchanged incremental per 1.5 GB (target < 0.5 s): in-engine %.2f s: %s; whole process %.2f s: %s\n",
			eng, check(eng < 0.5), per, check(per < 0.5))
	}
	var peak float64
	for _, r := range b.runs {
		if strings.HasPrefix(r.name, "quiesce") && r.rssMB > peak {
			peak = r.rssMB
		}
	}
	fmt.Fprintf(&w, "- quiesce peak RSS over all runs: %.0f MB (target < 400 MB): %s\n", peak, check(peak > 0 && peak < 400))
	s, ok1 := b.find("freeze window: staged (capture only)")
	d, ok2 := b.find("freeze window: direct (capture+upload)")
	if ok1 && ok2 && d.seconds > 0 {
		fmt.Fprintf(&w, "- staged freeze window / direct: %.2f (target <= 0.20): %s\n", s.seconds/d.seconds, check(s.seconds/d.seconds <= 0.2))
	}
	b.dbTargets(&w, check)
	return w.String()
}

// dbTargets checks issue 18's targets on the database rows.
func (b *bench) dbTargets(w *strings.Builder, check func(bool) string) {
	for _, r := range b.runs {
		switch r.kind {
		case "db-incr":
			limit := 5.0
			if strings.Contains(r.name, " 10% ") {
				limit = 25
			}
			fmt.Fprintf(w, "- %s: added %.1f%% (target <= %.0f%%): %s", r.name, r.addedPct, limit, check(r.addedPct <= limit))
			if !strings.Contains(r.name, " 10% ") {
				fmt.Fprintf(w, "; time %.2f of the full (target <= 0.25): %s", r.seconds/r.fullSeconds, check(r.seconds <= 0.25*r.fullSeconds))
			}
			fmt.Fprintln(w)
		case "db-capture":
			fmt.Fprintf(w, "- %s: wrote %.2fx the changed bytes (target <= 2x): %s; freeze %.2f of reading the changed files (target <= 2): %s\n",
				r.name, r.writtenPct/100, check(r.writtenPct <= 200), r.seconds/r.readSeconds, check(r.seconds <= 2*r.readSeconds))
		case "db-capture10":
			fmt.Fprintf(w, "- %s: freeze p50 %.2fs (issue 12's target for 1 GB: < 1s): %s; %.2f of a whole-file copy\n",
				r.name, r.seconds, check(r.seconds < 1), r.seconds/r.readSeconds)
		}
	}
}
