package main

import (
	"fmt"
	"strings"
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/render"
)

// progress is where a Backup or Restore stands, as `create --wait` shows it.
// It is read from the object's status alone, so formatting it is pure.
type progress struct {
	kind, name, phase    string
	objects, objectsDone int // a restore's Kubernetes objects
	pods, podsDone       int
	// bytesDone of bytes: a backup's volume data in the repository of the
	// data captured so far (the total grows as pods are captured); a
	// restore's data restored so far (bytes stays 0: no total is known).
	bytes, bytesDone int64
	bytesVerb        string
	// slowest is the pod that has run longest (a backup: since its first
	// pre-hook; a restore, whose pods have no start time: the unfinished
	// pod in the earliest phase), with its phase.
	slowest, slowestPhase string
	slowestSince          time.Time // zero: unknown
	slowestEnd            time.Time // zero: still running
	started, ended        time.Time // zero: not started, not ended yet
}

// backupProgress reads the pod counts from the Backup and the bytes and the
// slowest pod from pods, the running backup's per-pod results (its
// NodeBackups': the Backup's status holds counts only).
func backupProgress(b *api.Backup, pods []api.PodResult) progress {
	c := b.Status.PodCounts
	p := progress{kind: "backup", name: b.Name, phase: string(b.Status.Phase), pods: c.Total,
		podsDone: c.Completed + c.Failed + c.Skipped, bytesVerb: "uploaded"}
	if p.phase == "" {
		p.phase = string(api.BackupPhaseNew)
	}
	if t := b.Status.StartTimestamp; t != nil {
		p.started = t.Time
	}
	if t := b.Status.CompletionTimestamp; t != nil {
		p.ended = t.Time
	}
	var slowest *api.PodResult
	for i := range pods {
		pod := &pods[i]
		for _, v := range pod.Volumes {
			p.bytes += v.Bytes
			if v.SnapshotID != "" {
				p.bytesDone += v.Bytes
			}
		}
		if pod.FreezeStart != nil && slower(pod, slowest) {
			slowest = pod
		}
	}
	if slowest != nil {
		p.slowest, p.slowestPhase = slowest.Namespace+"/"+slowest.Name, string(slowest.Phase)
		p.slowestSince = slowest.FreezeStart.Time
		if slowest.CompletionTime != nil {
			p.slowestEnd = slowest.CompletionTime.Time
		}
	}
	return p
}

// slower reports whether pod (started) has run longer than than (nil:
// none). A running pod outruns every finished one; two running pods
// compare by start alone, so the answer holds whatever time it is now.
func slower(pod, than *api.PodResult) bool {
	if than == nil {
		return true
	}
	running, thanRunning := pod.CompletionTime == nil, than.CompletionTime == nil
	switch {
	case running && thanRunning:
		return pod.FreezeStart.Before(than.FreezeStart)
	case running != thanRunning:
		return running
	}
	return pod.CompletionTime.Sub(pod.FreezeStart.Time) > than.CompletionTime.Sub(than.FreezeStart.Time)
}

// restorePodOrder ranks an unfinished restored pod's phase: the earliest
// is the furthest from done.
var restorePodOrder = map[api.RestorePodPhase]int{api.RestorePodPending: 0, api.RestorePodRestoringVolumes: 1,
	api.RestorePodWaitingContainer: 2, api.RestorePodRunningHooks: 3}

func restoreProgress(r *api.Restore) progress {
	st := r.Status
	p := progress{kind: "restore", name: r.Name, phase: string(st.Phase), pods: len(st.Pods), bytesVerb: "restored",
		objects: st.Progress.TotalItems, objectsDone: st.Progress.ItemsRestored}
	if p.phase == "" {
		p.phase = string(api.RestorePhaseNew)
	}
	if t := st.StartTimestamp; t != nil {
		p.started = t.Time
	}
	if t := st.CompletionTimestamp; t != nil {
		p.ended = t.Time
	}
	rank := len(restorePodOrder)
	for _, pod := range st.Pods {
		for _, v := range pod.Volumes {
			p.bytesDone += v.Bytes
		}
		if pod.Phase.Final() {
			p.podsDone++
			continue
		}
		if o := restorePodOrder[pod.Phase]; o < rank {
			rank = o
			p.slowest, p.slowestPhase = pod.Namespace+"/"+pod.Name, string(pod.Phase)
		}
	}
	return p
}

// key is the line without the elapsed time: what must change for the plain
// format to print a new line.
func (p progress) key() string { return p.format(time.Time{}) }

// format is the progress line at now (zero: without elapsed times):
//
//	backup nightly-1: InProgress  pods 3/5  uploaded 1.2 MB of 4.0 MB  slowest shop/db-0 (Uploading, 12s)  elapsed 41s
func (p progress) format(now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %s", p.kind, p.name, p.phase)
	if p.objects > 0 {
		fmt.Fprintf(&b, "  objects %d/%d", p.objectsDone, p.objects)
	}
	if p.pods > 0 {
		fmt.Fprintf(&b, "  pods %d/%d", p.podsDone, p.pods)
	}
	switch {
	case p.bytes > 0:
		fmt.Fprintf(&b, "  %s %s of %s", p.bytesVerb, render.Bytes(p.bytesDone), render.Bytes(p.bytes))
	case p.bytesDone > 0:
		fmt.Fprintf(&b, "  %s %s", p.bytesVerb, render.Bytes(p.bytesDone))
	}
	if p.slowest != "" {
		fmt.Fprintf(&b, "  slowest %s (%s", p.slowest, p.slowestPhase)
		end := p.slowestEnd
		if end.IsZero() {
			end = now
		}
		if !p.slowestSince.IsZero() && !end.IsZero() {
			fmt.Fprintf(&b, ", %s", render.Duration(end.Sub(p.slowestSince)))
		}
		b.WriteString(")")
	}
	end := p.ended
	if end.IsZero() {
		end = now
	}
	if !p.started.IsZero() && !end.IsZero() {
		fmt.Fprintf(&b, "  elapsed %s", render.Duration(end.Sub(p.started)))
	}
	return b.String()
}
