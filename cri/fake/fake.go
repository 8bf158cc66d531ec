// Package fake is an in-memory cri.Runtime for unit tests: containers are
// declared, commands are scripted Programs, and every run is recorded. Its
// timeouts use the standard clock, so tests run it under testing/synctest.
package fake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/quiesce-dev/quiesce/cri"
)

// Program is a scripted command. It must return soon after ctx is done
// (that is how the fake "kills" it) and returns the exit code.
type Program func(ctx context.Context, stdio Stdio) int

// Stdio is a Program's standard streams.
type Stdio struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Output is a Program that prints and exits with code.
func Output(code int, stdout, stderr string) Program {
	return func(_ context.Context, s Stdio) int {
		io.WriteString(s.Stdout, stdout)
		io.WriteString(s.Stderr, stderr)
		return code
	}
}

// Hang is a Program that runs until killed.
func Hang() Program {
	return func(ctx context.Context, _ Stdio) int { <-ctx.Done(); return -1 }
}

// Sleep is a Program that exits 0 after d, or earlier when killed.
func Sleep(d time.Duration) Program {
	return func(ctx context.Context, _ Stdio) int {
		select {
		case <-time.After(d):
			return 0
		case <-ctx.Done():
			return -1
		}
	}
}

// Call records one command the fake ran.
type Call struct {
	Ref     cri.ContainerRef
	Command []string
	Hold    bool
	Result  cri.ExecResult
	Err     error
}

// Runtime is the fake. The zero value is not usable: call New.
type Runtime struct {
	mu         sync.Mutex
	containers map[key]bool // running?
	paused     map[key]bool
	pauses     []PauseCall
	programs   map[string]Program
	errs       map[string]error
	calls      []Call
	live       map[int]*process
	nextID     int
	// reapDown: the next ReapOrphans calls that fail with ErrUnavailable.
	reapDown int
}

type key struct{ uid, name string }

var _ cri.Runtime = (*Runtime)(nil)

// New returns a fake with no containers.
func New() *Runtime {
	return &Runtime{containers: map[key]bool{}, paused: map[key]bool{}, programs: map[string]Program{}, errs: map[string]error{}, live: map[int]*process{}}
}

// AddContainer declares a container, running or not.
func (r *Runtime) AddContainer(ref cri.ContainerRef, running bool) *Runtime {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.containers[key{ref.PodUID, ref.Container}] = running
	return r
}

// Script makes cmd run p. Commands without a script exit 0 silently.
func (r *Runtime) Script(cmd []string, p Program) *Runtime {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.programs[cmdKey(cmd)] = p
	return r
}

// FailWith makes cmd fail to start with err (e.g. cri.ErrUnavailable).
func (r *Runtime) FailWith(cmd []string, err error) *Runtime {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs[cmdKey(cmd)] = err
	return r
}

// Calls returns every finished command, in order.
func (r *Runtime) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// Ran reports how many times cmd finished.
func (r *Runtime) Ran(cmd []string) int {
	n := 0
	for _, c := range r.Calls() {
		if cmdKey(c.Command) == cmdKey(cmd) {
			n++
		}
	}
	return n
}

// Live returns the command lines of the commands still running.
func (r *Runtime) Live() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.live {
		out = append(out, strings.Join(p.cmd, " "))
	}
	slices.Sort(out)
	return out
}

func cmdKey(cmd []string) string { return strings.Join(cmd, "\x00") }

// process is one running Program.
type process struct {
	r        *Runtime
	id       int
	ref      cri.ContainerRef
	cmd      []string
	hold     bool
	orphan   bool // left by an "earlier agent process": nobody holds it
	kill     context.CancelFunc
	stdinW   *io.PipeWriter
	stdout   *lineBuffer
	stderr   *lineBuffer
	started  time.Time
	exited   chan struct{}
	exitCode int
}

func (r *Runtime) start(ref cri.ContainerRef, cmd []string, hold bool, onLine func(string)) (*process, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	running, ok := r.containers[key{ref.PodUID, ref.Container}]
	switch {
	case !ok:
		return nil, fmt.Errorf("%s (uid %s): no such container: %w", ref, ref.PodUID, cri.ErrContainerNotFound)
	case !running:
		return nil, fmt.Errorf("%s: not running: %w", ref, cri.ErrContainerNotRunning)
	case r.paused[key{ref.PodUID, ref.Container}]:
		return nil, fmt.Errorf("%s: cannot exec in a paused container", ref)
	case len(cmd) == 0:
		return nil, fmt.Errorf("%s: empty command", ref)
	}
	if err := r.errs[cmdKey(cmd)]; err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	prog := r.programs[cmdKey(cmd)]
	if prog == nil {
		prog = Output(0, "", "")
	}
	r.nextID++
	ctx, kill := context.WithCancel(context.Background())
	stdinR, stdinW := io.Pipe()
	p := &process{
		r: r, id: r.nextID, ref: ref, cmd: slices.Clone(cmd), hold: hold, kill: kill, stdinW: stdinW,
		stdout: &lineBuffer{onLine: onLine}, stderr: &lineBuffer{}, started: time.Now(), exited: make(chan struct{}),
	}
	r.live[p.id] = p
	go func() {
		p.exitCode = prog(ctx, Stdio{Stdin: stdinR, Stdout: p.stdout, Stderr: p.stderr})
		stdinR.Close()
		r.mu.Lock()
		delete(r.live, p.id)
		r.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// finish kills the program if asked, waits for it and records the call.
func (p *process) finish(kill bool, err error) (cri.ExecResult, error) {
	if kill {
		p.kill()
	}
	<-p.exited
	p.kill()
	p.stdinW.Close() // unblocks a release input nobody read
	res := cri.ExecResult{ExitCode: p.exitCode, Duration: time.Since(p.started), TimedOut: kill}
	if kill {
		res.ExitCode = -1
	}
	var t1, t2 bool
	res.Stdout, t1 = p.stdout.bytes()
	res.Stderr, t2 = p.stderr.bytes()
	res.Truncated = t1 || t2
	p.r.mu.Lock()
	p.r.calls = append(p.r.calls, Call{Ref: p.ref, Command: p.cmd, Hold: p.hold, Result: res, Err: err})
	p.r.mu.Unlock()
	return res, err
}

// Exec runs the scripted program. See cri.Execer.
func (r *Runtime) Exec(ctx context.Context, ref cri.ContainerRef, cmd []string, timeout time.Duration) (cri.ExecResult, error) {
	p, err := r.start(ref, cmd, false, nil)
	if err != nil {
		return cri.ExecResult{ExitCode: -1}, err
	}
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-p.exited:
		return p.finish(false, nil)
	case <-timer:
		return p.finish(true, fmt.Errorf("%s: command %q ran past its timeout of %s and was killed: %w", ref, cmd, timeout, cri.ErrTimeout))
	case <-ctx.Done():
		res, err := p.finish(true, fmt.Errorf("%s: command %q: %w", ref, cmd, context.Cause(ctx)))
		res.TimedOut = false
		return res, err
	}
}

// Hold starts the scripted program and waits for its ready line. See
// cri.Holder.
func (r *Runtime) Hold(ctx context.Context, ref cri.ContainerRef, cmd []string, opts cri.HoldOptions) (cri.Held, error) {
	ready := make(chan struct{})
	var once sync.Once
	onLine := func(line string) {
		if line == opts.ReadyLine {
			once.Do(func() { close(ready) })
		}
	}
	if opts.ReadyLine == "" {
		close(ready)
		onLine = nil
	}
	p, err := r.start(ref, cmd, true, onLine)
	if err != nil {
		return nil, err
	}
	var timer <-chan time.Time
	if opts.ReadyTimeout > 0 {
		t := time.NewTimer(opts.ReadyTimeout)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ready:
	case <-p.exited:
		_, err := p.finish(false, fmt.Errorf("%s: held command %q exited before it was released: %w", ref, cmd, cri.ErrHoldLost))
		return nil, err
	case <-timer:
		_, err := p.finish(true, fmt.Errorf("%s: held command %q did not print ready line %q within %s: %w", ref, cmd, opts.ReadyLine, opts.ReadyTimeout, cri.ErrTimeout))
		return nil, err
	case <-ctx.Done():
		_, err := p.finish(true, fmt.Errorf("%s: held command %q: %w", ref, cmd, context.Cause(ctx)))
		return nil, err
	}
	h := &held{p: p, opts: opts, done: make(chan struct{})}
	go func() {
		select {
		case <-ctx.Done():
			h.Release(context.WithoutCancel(ctx))
		case <-h.done:
		}
	}()
	return h, nil
}

type held struct {
	p    *process
	opts cri.HoldOptions
	once sync.Once
	done chan struct{}
	res  cri.ExecResult
	err  error
}

func (h *held) Done() <-chan struct{} { return h.done }

func (h *held) Release(context.Context) (cri.ExecResult, error) {
	h.once.Do(func() {
		defer close(h.done)
		p := h.p
		select {
		case <-p.exited:
			h.res, h.err = p.finish(false, fmt.Errorf("%s: held command %q exited before it was released: %w", p.ref, p.cmd, cri.ErrHoldLost))
			return
		default:
		}
		if h.opts.ReleaseInput != "" { // like the real runtime: input, or else EOF
			go io.WriteString(p.stdinW, h.opts.ReleaseInput)
		} else {
			p.stdinW.Close()
		}
		if h.opts.ReleaseTimeout <= 0 {
			h.res, h.err = p.finish(true, nil)
			return
		}
		t := time.NewTimer(h.opts.ReleaseTimeout)
		defer t.Stop()
		select {
		case <-p.exited:
			h.res, h.err = p.finish(false, nil)
		case <-t.C:
			h.res, h.err = p.finish(true, fmt.Errorf("%s: held command %q did not exit within %s of its release: %w", p.ref, p.cmd, h.opts.ReleaseTimeout, cri.ErrTimeout))
		}
	})
	return h.res, h.err
}

// Orphan starts cmd as a hook command nobody waits for (held, or run to
// completion), as an agent that restarted while a pod was frozen leaves it
// behind; ReapOrphans ends it.
func (r *Runtime) Orphan(ref cri.ContainerRef, cmd []string, held bool) error {
	p, err := r.start(ref, cmd, held, nil)
	if err != nil {
		return err
	}
	r.mu.Lock()
	p.orphan = true
	r.mu.Unlock()
	return nil
}

// ReapUnavailable makes the next n ReapOrphans calls fail with
// cri.ErrUnavailable, as a runtime whose shim does not answer.
func (r *Runtime) ReapUnavailable(n int) *Runtime {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reapDown = n
	return r
}

// ReapOrphans kills the orphaned hook commands in the container. See
// cri.Reaper.
func (r *Runtime) ReapOrphans(_ context.Context, ref cri.ContainerRef) (int, error) {
	r.mu.Lock()
	if r.reapDown > 0 {
		r.reapDown--
		r.mu.Unlock()
		return 0, fmt.Errorf("%s: shim not answering: %w", ref, cri.ErrUnavailable)
	}
	running, ok := r.containers[key{ref.PodUID, ref.Container}]
	var orphans []*process
	for _, p := range r.live {
		if p.orphan && p.ref.PodUID == ref.PodUID && p.ref.Container == ref.Container {
			orphans = append(orphans, p)
		}
	}
	r.mu.Unlock()
	switch {
	case !ok:
		return 0, fmt.Errorf("%s (uid %s): no such container: %w", ref, ref.PodUID, cri.ErrContainerNotFound)
	case !running:
		return 0, fmt.Errorf("%s: not running: %w", ref, cri.ErrContainerNotRunning)
	}
	for _, p := range orphans {
		p.finish(true, nil)
	}
	return len(orphans), nil
}

// lineBuffer caps output like the real runtime and reports lines.
type lineBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	truncated bool
	partial   []byte
	onLine    func(string)
}

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	room := cri.OutputCap - b.buf.Len()
	b.buf.Write(p[:max(0, min(room, len(p)))])
	if len(p) > room {
		b.truncated = true
	}
	var lines []string
	if b.onLine != nil {
		b.partial = append(b.partial, p...)
		for {
			i := bytes.IndexByte(b.partial, '\n')
			if i < 0 {
				break
			}
			lines = append(lines, string(b.partial[:i]))
			b.partial = b.partial[i+1:]
		}
	}
	b.mu.Unlock()
	for _, l := range lines {
		b.onLine(l)
	}
	return len(p), nil
}

func (b *lineBuffer) bytes() ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()), b.truncated
}

// ErrInjected is a convenience error for FailWith.
var ErrInjected = errors.New("injected failure")

// PauseCall records one Pause or Resume.
type PauseCall struct {
	Ref   cri.ContainerRef
	Pause bool
	Err   error
}

// PauseCalls returns every Pause and Resume, in order.
func (r *Runtime) PauseCalls() []PauseCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pauses)
}

// Paused reports whether the container is paused.
func (r *Runtime) Paused(ref cri.ContainerRef) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paused[key{ref.PodUID, ref.Container}]
}

// SetPaused marks a container paused, as an earlier agent process would
// have left it.
func (r *Runtime) SetPaused(ref cri.ContainerRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paused[key{ref.PodUID, ref.Container}] = true
}

// Pause implements cri.Pauser.
func (r *Runtime) Pause(_ context.Context, ref cri.ContainerRef) error { return r.setPaused(ref, true) }

// Resume implements cri.Pauser.
func (r *Runtime) Resume(_ context.Context, ref cri.ContainerRef) error {
	return r.setPaused(ref, false)
}

func (r *Runtime) setPaused(ref cri.ContainerRef, pause bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{ref.PodUID, ref.Container}
	running, ok := r.containers[k]
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("%s (uid %s): no such container: %w", ref, ref.PodUID, cri.ErrContainerNotFound)
	case !running:
		err = fmt.Errorf("%s: not running: %w", ref, cri.ErrContainerNotRunning)
	default:
		r.paused[k] = pause
	}
	r.pauses = append(r.pauses, PauseCall{Ref: ref, Pause: pause, Err: err})
	return err
}
