// Package cri is quiesce's boundary to a node's container runtime: it runs a
// hook's command inside a pod's container, either to completion (Execer) or
// held running until released (Holder). It imports no containerd or cri-api
// package; cri/containerd implements it on a node, cri/fake in memory, and
// cri/critest checks that both behave alike.
package cri

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// OutputCap bounds the stdout and stderr kept from one command, each; the
// rest is discarded and ExecResult.Truncated is set.
const OutputCap = 64 << 10

// ContainerRef names a container the way kubelet labels it: by the pod's UID
// and the container's name. PodNamespace and PodName are for messages only.
type ContainerRef struct {
	PodUID       string
	PodNamespace string
	PodName      string
	Container    string
}

// String is "container \"app\" of pod ns/name", for error messages.
func (r ContainerRef) String() string {
	pod := r.PodNamespace + "/" + r.PodName
	if r.PodName == "" {
		pod = "uid " + r.PodUID
	}
	return fmt.Sprintf("container %q of pod %s", r.Container, pod)
}

// ExecResult is what a finished (or killed) command left behind.
type ExecResult struct {
	// ExitCode is the command's exit status; -1 when it was killed or never
	// reported one.
	ExitCode int
	// Stdout and Stderr hold at most OutputCap bytes each.
	Stdout, Stderr []byte
	// Truncated says Stdout or Stderr exceeded OutputCap.
	Truncated bool
	Duration  time.Duration
	// TimedOut says the command ran past its timeout and its whole process
	// tree was killed.
	TimedOut bool
}

// Execer runs a command to completion in a container. A timeout <= 0 means
// no timeout other than ctx. When the timeout passes, Exec kills the
// command's whole process tree and returns on time with TimedOut set and an
// error matching ErrTimeout. A non-zero exit code is not an error.
type Execer interface {
	Exec(ctx context.Context, c ContainerRef, cmd []string, timeout time.Duration) (ExecResult, error)
}

// HoldOptions configures Hold; see hook.HoldSpec.
type HoldOptions struct {
	// ReadyLine is a stdout line meaning "frozen"; empty means ready as soon
	// as the process has started.
	ReadyLine string
	// ReadyTimeout bounds the wait for ReadyLine; <= 0 means only ctx.
	ReadyTimeout time.Duration
	// ReleaseInput is written to stdin on Release (stdin stays open); empty
	// means stdin is closed instead (EOF).
	ReleaseInput string
	// ReleaseTimeout bounds the wait for the process to exit after release,
	// after which its whole process tree is killed. <= 0 means kill at once.
	ReleaseTimeout time.Duration
}

// Held is a running held process.
type Held interface {
	// Release ends the hold: it writes ReleaseInput (or else closes stdin), waits
	// up to ReleaseTimeout for the process to exit, then kills its whole
	// process tree. Safe to call more than once; later calls return the
	// first result. It returns an error matching ErrTimeout when the process
	// had to be killed.
	Release(ctx context.Context) (ExecResult, error)
	// Done is closed when the process has exited or was released.
	Done() <-chan struct{}
}

// Holder starts a command and keeps it running, stdin open. Hold returns
// once the process is ready (see HoldOptions.ReadyLine). If the process
// exits or ReadyTimeout passes first, Hold kills what is left and returns an
// error (ErrTimeout for the latter). If ctx is cancelled while the process
// is held, it is released as by Release: a caller that goes away never
// leaves an application frozen.
type Holder interface {
	Hold(ctx context.Context, c ContainerRef, cmd []string, opts HoldOptions) (Held, error)
}

// Reaper ends hook commands that outlived the agent process that started
// them: when the agent restarts while a pod is frozen, its held commands
// still hold the application with nobody left to release them, and a
// pre-hook still running ("wait for X, then freeze") would freeze the
// application after the thaw.
type Reaper interface {
	// ReapOrphans kills the process trees of every hook command (held or
	// run to completion) in the container that this Runtime value did not
	// start itself, and returns how many processes it killed.
	ReapOrphans(ctx context.Context, c ContainerRef) (killed int, err error)
}

// Pauser freezes a container's processes without anything inside it (the
// runtime's cgroup freezer): a paused container does no I/O, so a copy of
// its volumes taken meanwhile is a point in time, for images with no shell
// and no client to quiesce them with.
type Pauser interface {
	// Pause freezes every process of the container. Pausing a paused
	// container is not an error.
	Pause(ctx context.Context, c ContainerRef) error
	// Resume thaws the container. Resuming a container that is not paused
	// is not an error, so a restarted agent can resume whatever an earlier
	// process may have paused.
	Resume(ctx context.Context, c ContainerRef) error
}

// Runtime is everything the agent needs from a node's container runtime.
type Runtime interface {
	Execer
	Holder
	Reaper
	Pauser
}

// Error kinds. Implementations wrap them with the container and the cause,
// and callers decide with errors.Is.
var (
	// ErrContainerNotFound: no container of that pod with that name exists.
	// No retry can help.
	ErrContainerNotFound = errors.New("container not found")
	// ErrContainerNotRunning: the container exists but is not running.
	ErrContainerNotRunning = errors.New("container not running")
	// ErrUnavailable: the runtime could not be reached; a retry may help.
	ErrUnavailable = errors.New("container runtime unavailable")
	// ErrTimeout: a command ran past its timeout and was killed.
	ErrTimeout = errors.New("timed out")
	// ErrHoldLost: a held command exited before it was released, so the
	// application may not have stayed frozen.
	ErrHoldLost = errors.New("hold lost")
)
