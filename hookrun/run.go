// Package hookrun runs a pod's hooks of one phase through a cri runtime,
// with Velero's onError semantics and quiesce's extensions: retries,
// post-hooks gated on the capture's outcome (When), and Hold-mode pre-hooks
// that stay running until the post phase releases them (Freeze and Thaw).
package hookrun

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/hook"
)

// PodRef names the pod whose hooks run.
type PodRef struct {
	Namespace, Name, UID string
}

func (p PodRef) String() string { return p.Namespace + "/" + p.Name }

func (p PodRef) container(name string) cri.ContainerRef {
	return cri.ContainerRef{PodUID: p.UID, PodNamespace: p.Namespace, PodName: p.Name, Container: name}
}

// Options configure a run. The zero value is usable.
type Options struct {
	// Logger gets one record per hook; nil logs nothing.
	Logger *zap.Logger
	// RetryDelay is the pause between attempts of a hook with Retries;
	// 0 means 1s.
	RetryDelay time.Duration
	// Pause names the containers Freeze pauses through the runtime after
	// the pre-hooks (backup.quiesce.dev/freeze), and Thaw resumes first.
	Pause []string
	// Filesystems are the volumes whose filesystems Freeze freezes after
	// the pauses, and Thaw thaws first, through FS.
	Filesystems []Filesystem
	FS          Filesystems
}

func (o Options) logger() *zap.Logger {
	if o.Logger == nil {
		return zap.NewNop()
	}
	return o.Logger
}

func (o Options) retryDelay() time.Duration {
	if o.RetryDelay <= 0 {
		return time.Second
	}
	return o.RetryDelay
}

// Run runs one phase's hooks in order, each to completion: a failing hook
// with OnError Fail stops the rest (recorded as Skipped), one with Continue
// does not. Hold-mode hooks need Freeze and fail here.
func Run(ctx context.Context, rt cri.Execer, pod PodRef, hooks []hook.Hook, opts Options) Results {
	return runPhase(ctx, pod, hooks, opts, nil, func(ctx context.Context, h hook.Hook) Result {
		return runExec(ctx, rt, pod, h, opts)
	})
}

// runPhase runs hooks in order with onError semantics. skip, if set, may
// skip a hook (with a reason) without counting as a failure.
func runPhase(ctx context.Context, pod PodRef, hooks []hook.Hook, opts Options, skip func(hook.Hook) string, run func(context.Context, hook.Hook) Result) Results {
	var out Results
	stoppedBy := ""
	for _, h := range hooks {
		if stoppedBy == "" && ctx.Err() != nil {
			stoppedBy = fmt.Sprintf("not run: %v", context.Cause(ctx))
		}
		if stoppedBy != "" {
			r := newResult(h)
			r.Outcome, r.Reason = Skipped, stoppedBy
			out = append(out, r)
			continue
		}
		if skip != nil {
			if reason := skip(h); reason != "" {
				r := newResult(h)
				r.Outcome, r.Reason = Skipped, reason
				logResult(opts.logger(), pod, r)
				out = append(out, r)
				continue
			}
		}
		r := run(ctx, h)
		logResult(opts.logger(), pod, r)
		out = append(out, r)
		if r.Failed() && r.OnError != hook.Continue {
			stoppedBy = fmt.Sprintf("not run: hook %q failed and its onError is Fail", h.Name)
		}
	}
	return out
}

// runExec runs an Exec-mode hook, retrying a failure up to h.Retries times.
func runExec(ctx context.Context, rt cri.Execer, pod PodRef, h hook.Hook, opts Options) Result {
	r := newResult(h)
	if h.Mode == hook.Hold {
		r.Outcome, r.Err = Failed, hookError(pod, h, errors.New("a Hold-mode hook can only run as a pre-backup hook (through Freeze)"))
		return r
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = hook.DefaultTimeout
	}
	for attempt := 0; ; attempt++ {
		r.Attempts = attempt + 1
		res, err := rt.Exec(ctx, pod.container(h.Container), h.Command, timeout)
		r.fill(res)
		switch {
		case err != nil:
			r.Outcome, r.Err = Failed, hookError(pod, h, err)
		case res.ExitCode != 0:
			r.Outcome, r.Err = Failed, hookError(pod, h, exitError(res))
		default:
			r.Outcome, r.Err = Succeeded, nil
			return r
		}
		if attempt >= h.Retries || !retryable(err) || ctx.Err() != nil {
			return r
		}
		opts.logger().Info("hook failed, retrying", hookFields(pod, r, zap.Int("attempt", r.Attempts), zap.Error(r.Err))...)
		select {
		case <-ctx.Done():
			return r
		case <-time.After(opts.retryDelay()):
		}
	}
}

// retryable: a missing or stopped container, or a cancelled run, won't be
// fixed by trying again.
func retryable(err error) bool {
	return !errors.Is(err, cri.ErrContainerNotFound) && !errors.Is(err, cri.ErrContainerNotRunning) &&
		!errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

func hookFields(pod PodRef, r Result, extra ...zap.Field) []zap.Field {
	return append([]zap.Field{
		zap.String("pod", pod.String()), zap.String("podUID", pod.UID), zap.String("container", r.Container),
		zap.String("hook", r.Hook), zap.String("phase", string(r.Phase)), zap.Duration("duration", r.Duration),
	}, extra...)
}

func logResult(log *zap.Logger, pod PodRef, r Result) {
	fields := hookFields(pod, r, zap.String("outcome", string(r.Outcome)), zap.Int("exitCode", r.ExitCode))
	switch {
	case r.Outcome == Skipped:
		log.Info("hook skipped", append(fields, zap.String("reason", r.Reason))...)
	case r.Failed():
		log.Warn("hook failed", append(fields, zap.Bool("timedOut", r.TimedOut), zap.Int("attempts", r.Attempts), zap.Error(r.Err))...)
	default:
		log.Info("hook "+string(r.Outcome), fields...)
	}
	if r.Stdout != "" || r.Stderr != "" {
		log.Debug("hook output", append(fields, zap.String("stdout", truncate(r.Stdout, 512)), zap.String("stderr", truncate(r.Stderr, 512)))...)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
