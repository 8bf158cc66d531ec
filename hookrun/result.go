package hookrun

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/hook"
)

// ExcerptCap bounds the stdout and stderr a Result keeps: their last
// ExcerptCap bytes (an error is usually at the end). The runtime already
// keeps at most cri.OutputCap of each.
const ExcerptCap = 4 << 10

// Outcome is what became of one hook.
type Outcome string

const (
	Succeeded Outcome = "Succeeded"
	Failed    Outcome = "Failed"
	// Skipped: not run, see Result.Reason.
	Skipped Outcome = "Skipped"
	// Held: a Hold-mode pre-hook is running and holds the application.
	Held Outcome = "Held"
	// Released: a held hook was released (and ended cleanly).
	Released Outcome = "Released"
)

// Result is the structured record of one hook, for status, events, logs and
// metrics.
type Result struct {
	Hook      string        `json:"hook"`
	Phase     hook.Phase    `json:"phase"`
	Mode      hook.Mode     `json:"mode,omitempty"`
	Source    hook.Source   `json:"source"`
	Container string        `json:"container"`
	Command   []string      `json:"command"`
	OnError   hook.OnError  `json:"onError"`
	Outcome   Outcome       `json:"outcome"`
	Reason    string        `json:"reason,omitempty"`
	ExitCode  int           `json:"exitCode"`
	Stdout    string        `json:"stdout,omitempty"`
	Stderr    string        `json:"stderr,omitempty"`
	Truncated bool          `json:"truncated,omitempty"`
	Duration  time.Duration `json:"duration"`
	Attempts  int           `json:"attempts,omitempty"`
	TimedOut  bool          `json:"timedOut,omitempty"`
	// Err is why the hook failed: the runtime's error, or the exit code.
	Err error `json:"-"`
}

// Failed reports whether the hook ran and failed.
func (r Result) Failed() bool { return r.Outcome == Failed }

// Results are a phase's hook results, in order.
type Results []Result

// Failed reports whether any hook failed, whatever its OnError.
func (rs Results) Failed() bool {
	for _, r := range rs {
		if r.Failed() {
			return true
		}
	}
	return false
}

// Err joins the errors of the hooks that failed with OnError Fail: the
// failures that fail the pod. Nil if there are none.
func (rs Results) Err() error {
	var errs []error
	for _, r := range rs {
		if r.Failed() && r.OnError != hook.Continue {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}

func newResult(h hook.Hook) Result {
	return Result{Hook: h.Name, Phase: h.Phase, Mode: h.Mode, Source: h.Source, Container: h.Container, Command: h.Command, OnError: onError(h), ExitCode: -1}
}

func onError(h hook.Hook) hook.OnError {
	if h.OnError == "" {
		return hook.Fail
	}
	return h.OnError
}

// fill copies a runtime result into r.
func (r *Result) fill(res cri.ExecResult) {
	r.ExitCode = res.ExitCode
	r.Stdout, r.Stderr = excerpt(res.Stdout), excerpt(res.Stderr)
	r.Truncated = res.Truncated || len(res.Stdout) > ExcerptCap || len(res.Stderr) > ExcerptCap
	r.Duration += res.Duration
	r.TimedOut = res.TimedOut
}

func excerpt(b []byte) string {
	if len(b) > ExcerptCap {
		b = b[len(b)-ExcerptCap:]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// hookError says which hook of which pod failed and why.
func hookError(pod PodRef, h hook.Hook, cause error) error {
	src := ""
	if h.Source.Ref != "" {
		src = fmt.Sprintf(" (%s %s)", h.Source.Kind, h.Source.Ref)
	}
	return fmt.Errorf("pod %s: %s hook %q%s in container %q: %w", pod, h.Phase, h.Name, src, h.Container, cause)
}

// exitError is the cause for a hook that ran and exited non-zero.
func exitError(res cri.ExecResult) error {
	msg := fmt.Sprintf("exit code %d", res.ExitCode)
	if s := strings.TrimSpace(lastLine(res.Stderr)); s != "" {
		msg += ": " + s
	}
	return errors.New(msg)
}

func lastLine(b []byte) string {
	s := strings.TrimRight(string(b), "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
