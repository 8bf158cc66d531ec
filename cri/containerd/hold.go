package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/cri"
)

// Hold starts cmd with stdin open and returns once it is ready. See
// cri.Holder.
func (r *Runtime) Hold(ctx context.Context, ref cri.ContainerRef, cmd []string, opts cri.HoldOptions) (cri.Held, error) {
	stdinR, stdinW := io.Pipe()
	ready := make(chan struct{})
	var readyOnce sync.Once
	var onLine func(string)
	if opts.ReadyLine != "" {
		onLine = func(line string) {
			if line == opts.ReadyLine {
				readyOnce.Do(func() { close(ready) })
			}
		}
	} else {
		close(ready)
	}
	p, err := r.start(ctx, ref, cmd, stdinR, onLine, holdPrefix)
	if err != nil {
		stdinW.Close()
		return nil, err
	}
	p.stdin = stdinW

	var timer <-chan time.Time
	if opts.ReadyTimeout > 0 {
		t := time.NewTimer(opts.ReadyTimeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ready:
	case <-p.exited:
		// It may have printed the ready line and exited at once: a hold
		// that holds nothing is still an error.
		res, err := p.finish(ctx, false)
		return nil, errors.Join(fmt.Errorf("%s: held command %q exited (code %d) before it was released%s: %w",
			ref, cmd, res.ExitCode, readyHint(opts), cri.ErrHoldLost), err)
	case <-timer:
		_, err := p.finish(ctx, true)
		return nil, errors.Join(fmt.Errorf("%s: held command %q did not print ready line %q within %s and was killed: %w",
			ref, cmd, opts.ReadyLine, opts.ReadyTimeout, cri.ErrTimeout), err)
	case <-ctx.Done():
		_, err := p.finish(ctx, true)
		return nil, errors.Join(fmt.Errorf("%s: held command %q: %w", ref, cmd, context.Cause(ctx)), err)
	}
	h := &held{p: p, cmd: cmd, opts: opts, done: make(chan struct{})}
	p.log.Debug("hook command held", zap.Strings("command", cmd))
	// A caller that goes away must not leave the application frozen.
	go func() {
		select {
		case <-ctx.Done():
			p.log.Info("caller went away, releasing held hook command", zap.Error(context.Cause(ctx)))
			_, _ = h.Release(ctx)
		case <-h.done:
		}
	}()
	return h, nil
}

func readyHint(o cri.HoldOptions) string {
	if o.ReadyLine == "" {
		return ""
	}
	return fmt.Sprintf(" (ready line %q)", o.ReadyLine)
}

type held struct {
	p    *proc
	cmd  []string
	opts cri.HoldOptions

	once sync.Once
	done chan struct{}
	res  cri.ExecResult
	err  error
}

func (h *held) Done() <-chan struct{} { return h.done }

// Release ends the hold. It runs on a context detached from ctx's
// cancellation (bounded by ReleaseTimeout plus cleanup), so a release that
// started always completes.
func (h *held) Release(ctx context.Context) (cri.ExecResult, error) {
	h.once.Do(func() {
		defer close(h.done)
		h.res, h.err = h.release(context.WithoutCancel(ctx))
	})
	return h.res, h.err
}

func (h *held) release(ctx context.Context) (cri.ExecResult, error) {
	p, ref := h.p, h.p.ref
	select {
	case <-p.exited:
		res, err := p.finish(ctx, false)
		return res, errors.Join(fmt.Errorf("%s: held command %q exited (code %d) before it was released: %w",
			ref, h.cmd, res.ExitCode, cri.ErrHoldLost), err)
	default:
	}
	// Write the release input, or else close stdin. Not both: closing stdin
	// goes through the shim (CloseIO closes the process's end at once), so
	// it could overtake input still in transit.
	if h.opts.ReleaseInput != "" {
		go func() { _, _ = io.WriteString(p.stdin, h.opts.ReleaseInput) }()
	} else {
		p.stdin.Close()
		if err := p.p.CloseIO(p.r.nsCtx(ctx), containerd.WithStdinCloser); err != nil {
			p.log.Debug("close stdin of held command", zap.Error(err))
		}
	}
	var timer <-chan time.Time
	if h.opts.ReleaseTimeout > 0 {
		t := time.NewTimer(h.opts.ReleaseTimeout)
		defer t.Stop()
		timer = t.C
	} else {
		c := make(chan time.Time)
		close(c)
		timer = c
	}
	select {
	case <-p.exited:
		return p.finish(ctx, false)
	case <-timer:
		res, err := p.finish(ctx, true)
		if h.opts.ReleaseTimeout <= 0 {
			return res, err // killing at once was asked for
		}
		return res, errors.Join(fmt.Errorf("%s: held command %q did not exit within %s of its release and was killed: %w",
			ref, h.cmd, h.opts.ReleaseTimeout, cri.ErrTimeout), err)
	}
}
