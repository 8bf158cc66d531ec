package consistency

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/hook"
)

// runner starts a hook's command the way the container would: as the
// database's user, with the container's environment, in its own process
// group (so that a kill takes the whole tree, as cri/containerd does).
type runner struct {
	uid, gid uint32
	env      []string
	dir      string
}

func (r runner) cmd(argv []string) *exec.Cmd {
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = r.env
	c.Dir = r.dir
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: &syscall.Credential{Uid: r.uid, Gid: r.gid}}
	return c
}

func killGroup(c *exec.Cmd) {
	if c.Process != nil {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
	}
}

// lockedBuffer is a bytes.Buffer shared by the output copier and readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// execHook runs an Exec-mode hook to completion, killing its process group
// at the hook's timeout (as cri.Execer).
func execHook(ctx context.Context, r runner, h hook.Hook) (out string, code int, err error) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = hook.DefaultTimeout
	}
	c := r.cmd(h.Command)
	var buf lockedBuffer
	c.Stdout, c.Stderr = &buf, &buf
	if err := c.Start(); err != nil {
		return "", -1, err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-time.After(timeout):
		killGroup(c)
		<-done
		return buf.String(), -1, fmt.Errorf("hook %s: timed out after %s: %w", h.Name, timeout, cri.ErrTimeout)
	case <-ctx.Done():
		killGroup(c)
		<-done
		return buf.String(), -1, ctx.Err()
	}
	code = c.ProcessState.ExitCode()
	if err != nil && code < 0 {
		return buf.String(), code, err
	}
	return buf.String(), code, nil
}

// holdOptions applies hookrun's defaults: the hook's timeout bounds the
// waits that have none of their own.
func holdOptions(h hook.Hook) cri.HoldOptions {
	var o cri.HoldOptions
	if h.Hold != nil {
		o = cri.HoldOptions{ReadyLine: h.Hold.ReadyLine, ReadyTimeout: h.Hold.ReadyTimeout,
			ReleaseInput: h.Hold.ReleaseInput, ReleaseTimeout: h.Hold.ReleaseTimeout}
	}
	t := h.Timeout
	if t <= 0 {
		t = hook.DefaultTimeout
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = t
	}
	if o.ReleaseTimeout <= 0 {
		o.ReleaseTimeout = t
	}
	return o
}

// held is a Hold-mode hook's running process, with cri/containerd's
// semantics: stdin open, ready on the exact ready line, released by the
// release input (stdin left open) or by closing stdin, killed with its
// process group when it does not exit within the release timeout.
type held struct {
	c      *exec.Cmd
	stdin  io.WriteCloser
	out    *lockedBuffer
	exited chan struct{}
	opts   cri.HoldOptions
}

var errHoldLost = cri.ErrHoldLost

func holdHook(ctx context.Context, r runner, h hook.Hook) (*held, error) {
	o := holdOptions(h)
	c := r.cmd(h.Command)
	stdin, err := c.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := c.StdoutPipe()
	if err != nil {
		return nil, err
	}
	out := &lockedBuffer{}
	c.Stderr = out
	if err := c.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	var once sync.Once
	if o.ReadyLine == "" {
		once.Do(func() { close(ready) })
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if line == o.ReadyLine {
				once.Do(func() { close(ready) })
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	hd := &held{c: c, stdin: stdin, out: out, exited: make(chan struct{}), opts: o}
	go func() {
		<-copied
		_ = c.Wait()
		close(hd.exited)
	}()
	select {
	case <-ready:
		return hd, nil
	case <-hd.exited:
		return nil, fmt.Errorf("hook %s: held command exited (code %d) before it was released (ready line %q): %w\n%s",
			h.Name, c.ProcessState.ExitCode(), o.ReadyLine, errHoldLost, out.String())
	case <-time.After(o.ReadyTimeout):
		killGroup(c)
		<-hd.exited
		return nil, fmt.Errorf("hook %s: no ready line %q within %s, killed: %w\n%s", h.Name, o.ReadyLine, o.ReadyTimeout, cri.ErrTimeout, out.String())
	case <-ctx.Done():
		killGroup(c)
		<-hd.exited
		return nil, ctx.Err()
	}
}

// release ends the hold. Like cri/containerd, it reports a process that
// exited before its release as a lost hold, and one that had to be killed
// as a timeout; an exit code after release is returned, not judged.
func (h *held) release() (out string, code int, err error) {
	select {
	case <-h.exited:
		return h.out.String(), h.c.ProcessState.ExitCode(), fmt.Errorf("held command exited before it was released: %w", errHoldLost)
	default:
	}
	if h.opts.ReleaseInput != "" {
		go func() { _, _ = io.WriteString(h.stdin, h.opts.ReleaseInput) }()
	} else {
		h.stdin.Close()
	}
	select {
	case <-h.exited:
		return h.out.String(), h.c.ProcessState.ExitCode(), nil
	case <-time.After(h.opts.ReleaseTimeout):
		killGroup(h.c)
		<-h.exited
		return h.out.String(), -1, fmt.Errorf("held command did not exit within %s of its release, killed: %w", h.opts.ReleaseTimeout, cri.ErrTimeout)
	}
}
