package hookrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/hook"
)

// FreezeAnnotation is where a pod asks for its containers to be paused, or
// its volumes' filesystems frozen, around the capture; the results of those
// steps name it as their source.
const FreezeAnnotation = "backup.quiesce.dev/freeze"

// pauseHook is the pseudo-hook a pause of container is reported as: it
// fails the pod like a pre-hook with OnError Fail.
func pauseHook(phase hook.Phase, container string) hook.Hook {
	name := "pause"
	if phase == hook.PostBackup {
		name = "resume"
	}
	return hook.Hook{Name: name, Phase: phase, Container: container, OnError: hook.Fail,
		Source: hook.Source{Kind: "annotation", Ref: FreezeAnnotation}}
}

// pause freezes each container in turn, after the pre-hooks: nothing in
// them runs, so nothing writes, until Thaw resumes them. The first failure
// stops the rest (the pod will not be captured; Thaw resumes every one).
func (f *Frozen) pause(ctx context.Context, containers []string) Results {
	var out Results
	for _, c := range containers {
		h := pauseHook(hook.PreBackup, c)
		r := newResult(h)
		r.Attempts = 1
		f.paused = append(f.paused, c)
		start := time.Now()
		err := f.rt.Pause(ctx, f.pod.container(c))
		r.Duration = time.Since(start)
		if err != nil {
			r.Outcome, r.Err = Failed, hookError(f.pod, h, err)
		} else {
			r.Outcome, r.Reason = Held, "paused through the container runtime"
		}
		logResult(f.opts.logger(), f.pod, r)
		out = append(out, r)
		if err != nil {
			break
		}
	}
	return out
}

// thawAttempts bounds the tries at resuming one container or thawing one
// filesystem: a runtime that is restarting gets a few seconds; one that
// stays down leaves the pod paused, which the result reports as a failure.
const thawAttempts = 5

// resume thaws every container pause was asked to pause (Resume is a
// no-op for one that is not paused), before anything else in Thaw: a held
// hook's release and the post-hooks need the container running.
func (f *Frozen) resume(ctx context.Context) Results {
	var out Results
	for _, c := range f.paused {
		h := pauseHook(hook.PostBackup, c)
		r := newResult(h)
		start := time.Now()
		var err error
		for r.Attempts = 1; ; r.Attempts++ {
			cctx, cancel := context.WithTimeout(ctx, thawCallBound)
			err = f.rt.Resume(cctx, f.pod.container(c))
			cancel()
			// An unreachable runtime (containerd restarting) is waited for up
			// to runtimePatience; other errors get thawAttempts tries.
			down := errors.Is(err, cri.ErrUnavailable) && time.Since(start) < runtimePatience
			if err == nil || (r.Attempts >= thawAttempts && !down) || ctx.Err() != nil {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(f.opts.retryDelay()):
			}
		}
		r.Duration = time.Since(start)
		if err != nil {
			r.Outcome, r.Err = Failed, hookError(f.pod, h, fmt.Errorf("after %d attempts: %w", r.Attempts, err))
		} else {
			r.Outcome, r.Reason = Released, "resumed through the container runtime"
		}
		logResult(f.opts.logger(), f.pod, r)
		out = append(out, r)
	}
	return out
}

// thawCallBound is what ThawBudget allows one Resume call.
const thawCallBound = 10 * time.Second
