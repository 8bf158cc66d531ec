package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/quiesce-dev/quiesce/internal/render"
)

func roundDur(d time.Duration) string { return render.Duration(d) }
func mb(n int64) string               { return render.Bytes(n) }

// machine names the CPU and core count, for the report's header.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH)
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func freezes(r backupRun, small bool) []time.Duration {
	var out []time.Duration
	for pod, d := range r.Freeze {
		if strings.HasPrefix(pod, "small-") == small {
			out = append(out, d)
		}
	}
	return out
}

func roundTrips(r backupRun) (all, start []time.Duration) {
	for _, h := range r.Hooks {
		all = append(all, h.RoundTrip)
		if h.Start > 0 {
			start = append(start, h.Start)
		}
	}
	return all, start
}

// row is one line of the comparison: each tool's value, shown rounded, and
// the ratio quiesce / Velero from the exact values.
type row struct {
	what       string
	v, q       float64
	fmtv, fmtq string
}

func durRow(what string, v, q time.Duration) row {
	return row{what, v.Seconds(), q.Seconds(), roundDur(v), roundDur(q)}
}

func markdown(res results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s on %s. %d pods in `%s` (Velero hook annotations): one with %d MB, %d with %d MB each, all random data; the incremental backup follows a rewrite of 10%% of every volume.\n\n",
		res.Date.Format("2006-01-02 15:04 UTC"), res.Machine, res.Pods, benchNS,
		res.Options["bigMB"], res.Options["small"], res.Options["smallMB"])
	for _, kind := range []string{"first", "incremental"} {
		var v, q *backupRun
		for i := range res.Backups {
			r := &res.Backups[i]
			if r.Kind != kind {
				continue
			}
			if r.Tool == toolVelero {
				v = r
			} else {
				q = r
			}
		}
		if v == nil || q == nil {
			continue
		}
		vrt, vst := roundTrips(*v)
		qrt, _ := roundTrips(*q)
		pods := float64(max(1, res.Pods))
		rows := []row{
			durRow("freeze window, big-0", v.Freeze["big-0"], q.Freeze["big-0"]),
			durRow("freeze window, small pods, median", quantile(freezes(*v, true), 0.5), quantile(freezes(*q, true), 0.5)),
			durRow("freeze window, small pods, max", quantile(freezes(*v, true), 1), quantile(freezes(*q, true), 1)),
			durRow("pre-hook exec round trip, median", quantile(vrt, 0.5), quantile(qrt, 0.5)),
			durRow("pre-hook exec round trip, p95", quantile(vrt, 0.95), quantile(qrt, 0.95)),
			durRow("backup wall time", v.Wall, q.Wall),
			{"bytes added to storage", float64(v.AddedBytes), float64(q.AddedBytes), mb(v.AddedBytes), mb(q.AddedBytes)},
			{"API requests (net of idle)", v.APIRequestsNet, q.APIRequestsNet, fmt.Sprintf("%.0f", v.APIRequestsNet), fmt.Sprintf("%.0f", q.APIRequestsNet)},
			{"API requests per pod", v.APIRequestsNet / pods, q.APIRequestsNet / pods, fmt.Sprintf("%.1f", v.APIRequestsNet/pods), fmt.Sprintf("%.1f", q.APIRequestsNet/pods)},
			{"node agent peak RSS", float64(v.AgentPeakRSS), float64(q.AgentPeakRSS), mb(v.AgentPeakRSS), mb(q.AgentPeakRSS)},
		}
		fmt.Fprintf(&b, "#### %s backup (Velero %s, quiesce %s)\n\n", kind, v.Phase, q.Phase)
		b.WriteString("| measure | Velero | quiesce | quiesce / Velero |\n|---|---:|---:|---:|\n")
		for _, r := range rows {
			ratio := "n/a"
			if r.v > 0 {
				ratio = fmt.Sprintf("%.2f", r.q/r.v)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.what, r.fmtv, r.fmtq, ratio)
		}
		fmt.Fprintf(&b, "\nVelero's pre-hook exec start (its log line before the exec to the command's first instruction), median: %s. API requests raw (not net of idle): Velero %.0f, quiesce %.0f; idle rate %.1f/s.",
			roundDur(quantile(vst, 0.5)), v.APIRequests, q.APIRequests, res.IdleRate)
		for _, r := range []*backupRun{v, q} {
			if len(r.Unthawed) > 0 {
				fmt.Fprintf(&b, " %s: no thawed-at in %s.", r.Tool, strings.Join(r.Unthawed, ", "))
			}
		}
		b.WriteString("\n\n")
	}
	if len(res.APIDown) > 0 {
		b.WriteString("#### API server stopped during a pre-hook\n\n| tool | API server stopped | thawed while stopped | freeze window | backup |\n|---|---:|---|---:|---|\n")
		for _, r := range res.APIDown {
			fz := "never thawed"
			if r.Freeze > 0 {
				fz = roundDur(r.Freeze)
			}
			phase := r.Phase
			if r.Err != "" {
				phase += " (" + r.Err + ")"
			}
			fmt.Fprintf(&b, "| %s | %s | %v | %s | %s |\n", r.Tool, roundDur(r.Stopped), yes(r.ThawedWhileStopped), fz, phase)
		}
		b.WriteString("\n")
	}
	if res.Compat != nil {
		b.WriteString(res.Compat.markdown())
	}
	return b.String()
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
