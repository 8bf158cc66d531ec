package agent

import (
	"context"
	"strings"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/hookrun"
)

// CRIHooks runs hooks through the node's container runtime with hookrun.
type CRIHooks struct {
	Runtime cri.Runtime
	// FS freezes the filesystems of the volumes a pod lists in
	// FreezeVolumes (agent/fsfreeze on a node).
	FS  hookrun.Filesystems
	Log *zap.Logger
}

func (h *CRIHooks) opts(backup string, pod *api.PodAssignment) hookrun.Options {
	o := hookrun.Options{Logger: h.Log.With(zap.String("backup", backup)), Pause: pod.Pause, FS: h.FS}
	for _, name := range pod.FreezeVolumes {
		for _, v := range pod.Volumes {
			if v.Name == name {
				// HostPath was resolved before the freeze and journalled
				// with the assignment, so a restarted agent thaws it too.
				o.Filesystems = append(o.Filesystems, hookrun.Filesystem{Volume: name, Dir: v.HostPath})
			}
		}
	}
	return o
}

func podRef(pod *api.PodAssignment) hookrun.PodRef {
	return hookrun.PodRef{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID}
}

// Freeze implements Hooks.
func (h *CRIHooks) Freeze(ctx context.Context, backup string, pod *api.PodAssignment) (Thaw, []api.HookResult, bool) {
	f, res := hookrun.Freeze(ctx, h.Runtime, podRef(pod), hook.FromResolved(hook.PreBackup, pod.PreHooks), h.opts(backup, pod))
	post := hook.FromResolved(hook.PostBackup, pod.PostHooks)
	thaw := func(ctx context.Context, captureOK bool) ([]api.HookResult, bool) {
		r := f.Thaw(ctx, post, captureOK)
		return toAPIResults(r), r.Err() == nil
	}
	return thaw, toAPIResults(res), res.Err() == nil
}

// ThawOnly implements Hooks: the containers the pod pauses are resumed, its
// filesystems thawed, every hook command an earlier agent process left in
// its containers (a hold, an unfinished pre-hook) killed, then its
// post-hooks run.
func (h *CRIHooks) ThawOnly(ctx context.Context, backup string, pod *api.PodAssignment) ([]api.HookResult, bool) {
	f := hookrun.Resume(h.Runtime, podRef(pod), hook.FromResolved(hook.PreBackup, pod.PreHooks), h.opts(backup, pod))
	r := f.Thaw(ctx, hook.FromResolved(hook.PostBackup, pod.PostHooks), false)
	return toAPIResults(r), r.Err() == nil
}

// outputExcerpt bounds the output kept in status (the full excerpt is in
// the agent's log).
const outputExcerpt = 512

func toAPIResults(rs hookrun.Results) []api.HookResult {
	out := make([]api.HookResult, 0, len(rs))
	for _, r := range rs {
		phase := "pre"
		if r.Phase == hook.PostBackup {
			phase = "post"
		}
		a := api.HookResult{
			Name: r.Hook, Phase: phase, Source: r.Source.Kind + " " + r.Source.Ref, Container: r.Container,
			ExitCode: r.ExitCode, Duration: metav1.Duration{Duration: r.Duration}, TimedOut: r.TimedOut,
			Skipped: r.Outcome == hookrun.Skipped, Held: r.Outcome == hookrun.Held,
			Output: tail(strings.TrimSpace(r.Stdout+"\n"+r.Stderr), outputExcerpt),
		}
		if r.Failed() && r.Err != nil {
			a.Error = r.Err.Error()
		}
		// -1 is "no exit status": a runtime action (pause, resume, FIFREEZE),
		// a reap, or a hold still running. Only a failure reads as one.
		if !r.Failed() && !a.Held && a.ExitCode < 0 {
			a.ExitCode = 0
		}
		if a.Skipped {
			a.Output = r.Reason
		}
		out = append(out, a)
	}
	return out
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
