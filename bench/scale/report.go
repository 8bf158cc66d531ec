package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/render"
)

// Targets of issue 15, for the 2,000-pod case and the one-node case.
const (
	targetOverhead       = 60 * time.Second
	targetFreezeOverhead = 50 * time.Millisecond
	targetWritesPerPod   = 4.0
	targetObjectBytes    = 256 << 10
	targetRSSKiB         = 300 << 10
)

func report(w io.Writer, rs []result, failRate float64, total time.Duration) {
	fmt.Fprintf(w, "Simulated work per pod: hooks 20-200 ms each, capture 50-500 ms, upload 1-5 s; each fails with probability %.2f. "+
		"Bench run time %s.\n\n", failRate, total.Round(time.Second))
	fmt.Fprintln(w, "| case | outcome | wall | control overhead | API requests per pod | writes per pod | largest object | coordinator peak RSS | harness heap per agent | watch events per agent | freeze control overhead, median / slowest |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		overhead := r.wall - r.workBound
		writes := r.requests.writes() / float64(max(1, r.pods))
		perAgent := "-"
		watch := "-"
		if r.agents > 0 {
			perAgent = fmt.Sprintf("%.1f MB", float64(r.harnessHeap)/float64(r.agents)/1e6)
			watch = fmt.Sprintf("%.0f", r.requests.WatchEvents/float64(r.agents+1))
		}
		fmt.Fprintf(w, "| %s | %s; %d pods: %d completed, %d failed%s, %d skipped | %s | %s | %s | %.2f | %s (%s) | %.0f MB | %s | %s | %s / %s |\n",
			r.c.name, strings.Join(r.phases, ", "), r.pods, r.counts.Completed, r.counts.Failed, byCause(r.causes), r.counts.Skipped,
			render.Duration(r.wall), render.Duration(max(0, overhead)), r.requests.perPod(max(1, r.pods)), writes,
			render.Bytes(int64(r.largest)), r.largestName, float64(r.coordRSS)/1024, perAgent, watch,
			render.Duration(r.freezeMed), render.Duration(r.freezeMax))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | case | measured | met |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rs {
		switch {
		case strings.HasPrefix(r.c.name, "2000 pods"):
			overhead := r.wall - r.workBound
			writes := r.requests.writes() / float64(max(1, r.pods))
			row(w, "control overhead under 60 s", r, render.Duration(max(0, overhead)), overhead < targetOverhead)
			row(w, "median freeze control overhead under 50 ms", r, render.Duration(r.freezeMed), r.freezeMed < targetFreezeOverhead)
			row(w, "at most 4 API writes per pod", r, fmt.Sprintf("%.2f", writes), writes <= targetWritesPerPod)
			row(w, "every object under 256 KiB", r, render.Bytes(int64(r.largest)), r.largest < targetObjectBytes)
			row(w, "coordinator RSS under 300 MB", r, fmt.Sprintf("%.0f MB", float64(r.coordRSS)/1024), r.coordRSS < targetRSSKiB)
		case strings.HasPrefix(r.c.name, "500 pods / 1 node"):
			row(w, fmt.Sprintf("capture concurrency (%d slots) respected by ungrouped pods", r.c.slots), r, fmt.Sprintf("at most %d at once", r.peakCaptures), r.peakCaptures <= int64(r.c.slots))
			row(w, "its NodeBackups under 256 KiB", r, render.Bytes(int64(r.largest)), r.largest < targetObjectBytes)
			heap := float64(r.harnessHeap) / float64(max(1, r.agents))
			row(w, "agent RSS under 300 MB", r, fmt.Sprintf("%.0f MB harness heap", heap/1e6), heap < float64(targetRSSKiB)*1024)
		}
		if len(r.problems) > 0 {
			row(w, "every pod final, every group ordered", r, fmt.Sprintf("%d problems: %s", len(r.problems), r.problems[0]), false)
		} else {
			row(w, "every pod final, every group ordered", r, "yes", true)
		}
	}
}

func row(w io.Writer, target string, r result, measured string, met bool) {
	m := "no"
	if met {
		m = "yes"
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s |\n", target, r.c.name, measured, m)
}

// byCause is " (cause n, ...)", the most frequent first; empty for none.
func byCause(causes map[api.FailureCause]int) string {
	if len(causes) == 0 {
		return ""
	}
	keys := slices.Collect(maps.Keys(causes))
	slices.SortFunc(keys, func(a, b api.FailureCause) int {
		if causes[a] != causes[b] {
			return causes[b] - causes[a]
		}
		return strings.Compare(string(a), string(b))
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, causes[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
