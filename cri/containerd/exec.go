package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/cri"
)

// Bounds on cleanup work that runs after a command exited or was killed.
const (
	// outputGrace is how long output may keep flowing after the command's
	// main process exited (a background child may still hold the pipes).
	outputGrace = time.Second
	// cleanupTimeout bounds the runtime calls that reap a process.
	cleanupTimeout = 10 * time.Second
)

// Exec runs cmd to completion in the container. See cri.Execer.
func (r *Runtime) Exec(ctx context.Context, ref cri.ContainerRef, cmd []string, timeout time.Duration) (cri.ExecResult, error) {
	p, err := r.start(ctx, ref, cmd, nil, nil, "")
	if err != nil {
		return cri.ExecResult{ExitCode: -1}, err
	}
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout - time.Since(p.started))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-p.exited:
		return p.finish(ctx, false)
	case <-timer:
		p.log.Debug("hook command timed out, killing its process tree", zap.Duration("timeout", timeout))
		res, err := p.finish(ctx, true)
		return res, errors.Join(fmt.Errorf("%s: command %q ran past its timeout of %s and was killed: %w", ref, cmd, timeout, cri.ErrTimeout), err)
	case <-ctx.Done():
		res, err := p.finish(ctx, true)
		res.TimedOut = false
		return res, errors.Join(fmt.Errorf("%s: command %q: %w", ref, cmd, context.Cause(ctx)), err)
	}
}

// proc is one exec'd command.
type proc struct {
	r       *Runtime
	ref     cri.ContainerRef
	log     *zap.Logger
	p       containerd.Process
	pid     int    // host PID of the exec'd process
	marker  string // value of markerEnv in its environment
	pidNS   string // the container's PID namespace
	started time.Time

	stdout, stderr *capBuffer
	stdin          io.WriteCloser // nil unless held

	exited   chan struct{} // closed when the main process exited
	status   containerd.ExitStatus
	stopWait context.CancelFunc

	finishOnce sync.Once
	res        cri.ExecResult
	resErr     error
}

// start execs cmd in the container. stdin, if not nil, becomes the
// command's stdin; onLine, if not nil, sees each stdout line. The marker
// (and exec ID) starts with prefix: holdPrefix for held commands. The
// marker is how ReapOrphans finds a command whose agent process died.
func (r *Runtime) start(ctx context.Context, ref cri.ContainerRef, cmd []string, stdin io.Reader, onLine func(string), prefix string) (*proc, error) {
	if len(cmd) == 0 {
		return nil, fmt.Errorf("%s: empty command", ref)
	}
	ctx = r.nsCtx(ctx)
	id, err := r.findContainer(ctx, ref)
	if err != nil {
		return nil, err
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, r.containerErr(ref, id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return nil, r.containerErr(ref, id, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return nil, r.containerErr(ref, id, err)
	}
	if spec.Process == nil {
		return nil, fmt.Errorf("%s: container %s has no process spec", ref, id)
	}
	// The command runs as the container's own process does (user, cwd,
	// capabilities, env), like kubectl exec, plus our marker.
	marker := prefix + randomID()
	pspec := *spec.Process
	pspec.Args = slices.Clone(cmd)
	pspec.Terminal = false
	pspec.Env = append(slices.Clone(pspec.Env), markerEnv+"="+marker)

	p := &proc{
		r: r, ref: ref, marker: marker,
		stdout: newCapBuffer(cri.OutputCap), stderr: newCapBuffer(cri.OutputCap),
		exited: make(chan struct{}),
		pidNS:  pidNamespace(int(task.Pid())),
	}
	p.stdout.onLine = onLine
	execID := "quiesce-" + marker
	p.log = r.log.With(zap.String("pod", ref.PodNamespace+"/"+ref.PodName), zap.String("podUID", ref.PodUID),
		zap.String("container", ref.Container), zap.String("execID", execID))
	streams := []cio.Opt{cio.WithStreams(stdin, p.stdout, p.stderr)}
	if r.fifoDir != "" {
		streams = append(streams, cio.WithFIFODir(r.fifoDir))
	}
	p.started = time.Now()
	p.p, err = task.Exec(ctx, execID, &pspec, cio.NewCreator(streams...))
	if err != nil {
		return nil, r.containerErr(ref, id, err)
	}
	// Wait outlives ctx: the process is reaped by finish, whatever ctx does.
	waitCtx, stopWait := context.WithCancel(context.WithoutCancel(ctx))
	p.stopWait = stopWait
	statusC, err := p.p.Wait(waitCtx)
	if err == nil {
		err = p.p.Start(ctx)
	}
	if err != nil {
		stopWait()
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		// The runtime may have started the process before the start failed
		// (its I/O not wired): a hook reported failed leaves nothing running.
		if n, kerr := killTree(0, marker, p.pidNS); n > 0 || kerr != nil {
			p.log.Warn("killed what a failed start left running", zap.Int("processes", n), zap.Error(kerr))
		}
		_, _ = p.p.Delete(dctx, containerd.WithProcessKill)
		return nil, fmt.Errorf("%s: start command %q: %w", ref, cmd, grpcKind(err))
	}
	p.pid = int(p.p.Pid())
	p.log.Debug("hook command started", zap.Strings("command", cmd), zap.Int("pid", p.pid))
	r.track(marker, true)
	go func() {
		p.status = <-statusC
		close(p.exited)
	}()
	return p, nil
}

func (r *Runtime) containerErr(ref cri.ContainerRef, id string, err error) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%s: container %s has no running task: %w", ref, id, cri.ErrContainerNotRunning)
	}
	return fmt.Errorf("%s: container %s: %w", ref, id, grpcKind(err))
}

// finish ends the command and reaps it: with kill set, or when background
// children outlive the main process, the whole process tree is killed
// first. It is idempotent.
func (p *proc) finish(ctx context.Context, kill bool) (cri.ExecResult, error) {
	p.finishOnce.Do(func() { p.res, p.resErr = p.doFinish(ctx, kill) })
	return p.res, p.resErr
}

func (p *proc) doFinish(ctx context.Context, kill bool) (cri.ExecResult, error) {
	ctx, cancel := context.WithTimeout(p.r.nsCtx(context.WithoutCancel(ctx)), cleanupTimeout)
	defer cancel()
	defer p.stopWait()
	var errs []error
	if kill {
		p.killTree(ctx, p.pid)
		select {
		case <-p.exited:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("%s: killed command (pid %d) did not exit within %s", p.ref, p.pid, cleanupTimeout))
		}
	}
	duration := time.Since(p.started)
	if p.stdin != nil {
		p.stdin.Close()
	}
	// Output ends when the last holder of the pipes is gone. Leftover
	// background children are killed (a hook leaves nothing running), which
	// also ends their output.
	ioDone := make(chan struct{})
	go func() { p.p.IO().Wait(); close(ioDone) }()
	select {
	case <-ioDone:
	case <-time.After(outputGrace):
		p.killTree(ctx, 0)
		select {
		case <-ioDone:
		case <-time.After(outputGrace):
		}
	}
	if !kill {
		p.killTree(ctx, 0) // nothing of the hook outlives it, even with its pipes closed
	}
	p.p.IO().Cancel()
	if _, err := p.p.Delete(ctx); err != nil {
		_ = p.p.IO().Close() // Delete closes (and removes the FIFOs) only on success
		if !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("%s: delete exec process: %w", p.ref, grpcKind(err)))
		}
	}
	res := cri.ExecResult{ExitCode: -1, Duration: duration, TimedOut: kill}
	select {
	case <-p.exited: // p.status is set
		if err := p.status.Error(); err != nil {
			errs = append(errs, fmt.Errorf("%s: wait for command: %w", p.ref, grpcKind(err)))
		} else if !kill {
			res.ExitCode = int(p.status.ExitCode())
		}
	default:
	}
	var t1, t2 bool
	res.Stdout, t1 = p.stdout.Bytes()
	res.Stderr, t2 = p.stderr.Bytes()
	res.Truncated = t1 || t2
	p.r.track(p.marker, false)
	p.log.Debug("hook command finished", zap.Int("exitCode", res.ExitCode), zap.Duration("duration", duration), zap.Bool("killed", kill))
	return res, errors.Join(errs...)
}

func (p *proc) killTree(ctx context.Context, root int) {
	n, err := killTree(root, p.marker, p.pidNS)
	if n > 0 || err != nil {
		p.log.Debug("killed hook process tree", zap.Int("processes", n), zap.Error(err))
	}
	if root > 0 {
		// Belt and braces: the shim's own view of the process.
		ctx, cancel := context.WithTimeout(p.r.nsCtx(context.WithoutCancel(ctx)), cleanupTimeout)
		defer cancel()
		_ = p.p.Kill(ctx, syscall.SIGKILL)
	}
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
