package hookrun

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/hook"
)

// Frozen is a pod after its pre-backup hooks ran: it holds the processes
// of its Hold-mode hooks until Thaw. Whatever Freeze returned, call Thaw.
type Frozen struct {
	rt    cri.Runtime
	pod   PodRef
	opts  Options
	holds []holding
	// orphaned are the pre-hooks an earlier process may have left running
	// (Resume): Thaw kills what is left of them in their containers.
	orphaned []hook.Hook
	// paused are the containers to resume in Thaw: those Freeze tried to
	// pause, or after Resume all that the pod asks to pause.
	paused []string
	// frozenFS are the filesystems to thaw in Thaw, like paused.
	frozenFS []Filesystem

	once    sync.Once
	results Results
}

type holding struct {
	h    hook.Hook
	held cri.Held
	res  Result
}

// Freeze runs a pod's pre-backup hooks in order, then pauses the containers
// opts.Pause names and freezes opts.Filesystems. Exec-mode hooks run to completion; Hold-mode hooks are
// started and left running once ready. A
// failing hook with OnError Fail stops the rest; Results.Err then says the
// pod must not be captured, but the caller must still call Thaw, which
// releases what was held. If ctx is cancelled while hooks are held, the
// runtime releases them (cri.Holder), so a caller that dies never leaves an
// application frozen.
func Freeze(ctx context.Context, rt cri.Runtime, pod PodRef, pre []hook.Hook, opts Options) (*Frozen, Results) {
	f := &Frozen{rt: rt, pod: pod, opts: opts}
	res := runPhase(ctx, pod, pre, opts, nil, func(ctx context.Context, h hook.Hook) Result {
		if h.Mode != hook.Hold {
			return runExec(ctx, rt, pod, h, opts)
		}
		return f.hold(ctx, h)
	})
	if res.Err() == nil && len(opts.Pause) > 0 {
		res = append(res, f.pause(ctx, opts.Pause)...)
	}
	if res.Err() == nil && len(opts.Filesystems) > 0 {
		res = append(res, f.freezeFilesystems(ctx)...)
	}
	return f, res
}

// Resume returns a Frozen for a pod that an earlier process froze (the
// agent restarted while the pod was frozen, as its journal says): nothing
// is held by this process, but the pod's Hold-mode pre-hooks may still be
// running in its containers, and so may a pre-hook that had not finished
// ("wait for X, then freeze" would freeze after the thaw), and the
// containers it pauses may be paused. Its Thaw resumes them, kills every
// hook command the earlier process left (cri.Reaper) instead of releasing
// it, then runs the post-hooks as usual.
func Resume(rt cri.Runtime, pod PodRef, pre []hook.Hook, opts Options) *Frozen {
	f := &Frozen{rt: rt, pod: pod, opts: opts, paused: opts.Pause, frozenFS: opts.Filesystems}
	f.orphaned = slices.Clone(pre)
	return f
}

func holdOptions(h hook.Hook) cri.HoldOptions {
	var o cri.HoldOptions
	if h.Hold != nil {
		o = cri.HoldOptions{ReadyLine: h.Hold.ReadyLine, ReadyTimeout: h.Hold.ReadyTimeout, ReleaseInput: h.Hold.ReleaseInput, ReleaseTimeout: h.Hold.ReleaseTimeout}
	}
	// The hook's timeout bounds whichever wait has none of its own.
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = hook.DefaultTimeout
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = timeout
	}
	if o.ReleaseTimeout <= 0 {
		o.ReleaseTimeout = timeout
	}
	return o
}

func (f *Frozen) hold(ctx context.Context, h hook.Hook) Result {
	r := newResult(h)
	r.Mode = hook.Hold
	r.Attempts = 1
	start := time.Now()
	held, err := f.rt.Hold(ctx, f.pod.container(h.Container), h.Command, holdOptions(h))
	r.Duration = time.Since(start)
	if err != nil {
		r.Outcome, r.Err = Failed, hookError(f.pod, h, err)
		return r
	}
	r.Outcome = Held
	f.holds = append(f.holds, holding{h: h, held: held, res: r})
	return r
}

// Held reports how many hooks are held.
func (f *Frozen) Held() int { return len(f.holds) }

// thawSlack is added to the time Thaw may take once its caller's context is
// gone, for runtime calls and cleanup.
const thawSlack = 30 * time.Second

// ThawBudget is how long Thaw may run once ctx is cancelled: every release
// and post-hook at its full timeout (retries included), the runtime's
// patience for each reap and post-hook, plus slack.
func (f *Frozen) ThawBudget(post []hook.Hook) time.Duration {
	d := thawSlack + time.Duration(len(f.orphaned)+len(f.paused))*runtimePatience +
		time.Duration((len(f.paused)+len(f.frozenFS))*thawAttempts)*(thawCallBound+f.opts.retryDelay())
	for _, h := range f.holds {
		d += holdOptions(h.h).ReleaseTimeout
	}
	for _, h := range post {
		t := h.Timeout
		if t <= 0 {
			t = hook.DefaultTimeout
		}
		d += time.Duration(h.Retries+1)*(t+f.opts.retryDelay()) + runtimePatience
	}
	return d
}

// Thaw thaws the frozen filesystems, resumes the paused containers,
// releases the held hooks (in reverse
// order, like unlocking), then runs the post-backup hooks in order, each gated by its When on captureOK (pass
// false when the pre-hooks or the capture failed). Releasing comes first so
// the application is frozen no longer than needed, and is never skipped: a
// failing release does not stop the other releases or the post-hooks. Thaw
// does not stop when ctx is cancelled: it runs on a context detached from
// ctx, bounded by ThawBudget. Only the first call does anything; later calls
// return its results.
func (f *Frozen) Thaw(ctx context.Context, post []hook.Hook, captureOK bool) Results {
	f.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.ThawBudget(post))
		defer cancel()
		log := f.opts.logger()
		// Filesystems and containers first, in the reverse of their
		// freeze: a held hook's release and the post-hooks run in the
		// containers, and a kill of a paused process waits for the thaw.
		f.results = append(f.results, f.thawFilesystems(ctx)...)
		f.results = append(f.results, f.resume(ctx)...)
		f.results = append(f.results, f.reap(ctx)...)
		for _, h := range slices.Backward(f.holds) {
			r := h.res
			res, err := h.held.Release(ctx)
			r.fill(res)
			r.Duration = res.Duration
			switch {
			case err != nil:
				r.Outcome, r.Err = Failed, hookError(f.pod, h.h, fmt.Errorf("release: %w", err))
			case res.ExitCode != 0:
				// What the hold does on release (pg_backup_stop, UNLOCK)
				// failed: the application may not be as it should.
				r.Outcome, r.Err = Failed, hookError(f.pod, h.h, fmt.Errorf("after release: %w", exitError(res)))
			default:
				r.Outcome = Released
			}
			logResult(log, f.pod, r)
			f.results = append(f.results, r)
		}
		f.results = append(f.results, runPhase(ctx, f.pod, post, f.opts, whenGate(captureOK), f.runPostHook)...)
	})
	return f.results
}

// reap kills, once per container of the orphaned pre-hooks, every hook
// command an earlier agent process left running there. Each held hook is
// reported released (or failed); an exec hook is reported only when
// something of it was left (killed, or the reap failed): it had not
// finished, and what it would have done after the thaw is undone.
func (f *Frozen) reap(ctx context.Context) Results {
	type reaped struct {
		n        int
		err      error
		took     time.Duration
		reported bool
	}
	done := map[string]*reaped{}
	var out Results
	for _, h := range f.orphaned {
		c, seen := done[h.Container]
		if !seen {
			start := time.Now()
			c = &reaped{}
			c.n, c.err = f.reapContainer(ctx, h.Container)
			c.took = time.Since(start)
			done[h.Container] = c
		}
		r := newResult(h)
		r.Mode, r.Attempts = h.Mode, 1
		switch {
		case c.err != nil && (h.Mode == hook.Hold || !c.reported):
			r.Outcome, r.Err = Failed, hookError(f.pod, h, fmt.Errorf("kill the hook commands an earlier agent process left: %w", c.err))
		case h.Mode == hook.Hold && !c.reported:
			r.Outcome, r.Reason = Released, fmt.Sprintf("reaped: killed %d process(es) an earlier agent process left running, in %s", c.n, ms(c.took))
		case h.Mode == hook.Hold:
			r.Outcome, r.Reason = Released, "reaped: with the other hook commands an earlier agent process left in this container"
		case c.n > 0 && !c.reported:
			r.Outcome, r.Reason = Skipped, fmt.Sprintf("not finished: killed %d process(es) of the hook commands an earlier agent process left running, in %s", c.n, ms(c.took))
		default:
			continue
		}
		c.reported = true
		logResult(f.opts.logger(), f.pod, r)
		out = append(out, r)
	}
	return out
}

// runtimePatience is how long the thaw retries a runtime that does not
// answer: containerd restarting takes seconds, and a shim whose client died
// while starting an exec stays blocked ~30s (containerd 1.6). The thaw must
// still happen: orphans reaped, post-hooks run.
const runtimePatience = time.Minute

// patiently calls f until it returns anything but cri.ErrUnavailable, for
// up to runtimePatience.
func patiently[T any](ctx context.Context, opts Options, what string, f func(ctx context.Context) (T, error)) (T, error) {
	giveUp := time.Now().Add(runtimePatience)
	for {
		v, err := f(ctx)
		if err == nil || !errors.Is(err, cri.ErrUnavailable) || time.Now().After(giveUp) || ctx.Err() != nil {
			return v, err
		}
		opts.logger().Warn("the container runtime is not answering: retrying", zap.String("what", what), zap.Error(err))
		select {
		case <-ctx.Done():
		case <-time.After(opts.retryDelay()):
		}
	}
}

func (f *Frozen) reapContainer(ctx context.Context, container string) (int, error) {
	return patiently(ctx, f.opts, "reap in "+f.pod.String()+" container "+container, func(ctx context.Context) (int, error) {
		cctx, cancel := context.WithTimeout(ctx, thawCallBound)
		defer cancel()
		return f.rt.ReapOrphans(cctx, f.pod.container(container))
	})
}

// runPostHook runs a post-hook as runExec does, and again while the runtime
// does not answer: a thaw's post-hook is what unlocks the application.
func (f *Frozen) runPostHook(ctx context.Context, h hook.Hook) Result {
	r, _ := patiently(ctx, f.opts, "post-hook "+h.Name+" in "+f.pod.String(), func(ctx context.Context) (Result, error) {
		r := runExec(ctx, f.rt, f.pod, h, f.opts)
		return r, r.Err
	})
	return r
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

// whenGate skips a post-hook whose When does not match the capture's
// outcome.
func whenGate(captureOK bool) func(hook.Hook) string {
	return func(h hook.Hook) string {
		switch {
		case h.When == hook.OnSuccess && !captureOK:
			return "not run: when is OnSuccess and the backup of the pod failed"
		case h.When == hook.OnFailure && captureOK:
			return "not run: when is OnFailure and the backup of the pod succeeded"
		}
		return ""
	}
}
