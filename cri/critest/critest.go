// Package critest is a conformance suite for cri.Runtime implementations:
// the same checks run against cri/fake and against cri/containerd on a real
// containerd with runc, which keeps the fake faithful.
package critest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/cri"
)

// The commands the suite runs. A fake runtime must script them (see
// cri/fake); a real one runs them in a busybox container.
var (
	// CmdOutput prints "out" and "err" and exits 3.
	CmdOutput = []string{"sh", "-c", "echo out; echo err >&2; exit 3"}
	// CmdBigOutput prints more than cri.OutputCap bytes to stdout.
	CmdBigOutput = []string{"sh", "-c", "head -c 100000 /dev/zero"}
	// CmdTree leaves a background child and waits forever.
	CmdTree = []string{"sh", "-c", "sleep 600 & sleep 600"}
	// CmdHold prints "ready", then echoes one stdin line as "got LINE" and
	// exits.
	CmdHold = []string{"sh", "-c", "echo ready; read x; echo got $x"}
	// CmdHoldForever prints "ready" and then ignores stdin, SIGTERM and EOF.
	CmdHoldForever = []string{"sh", "-c", "trap '' TERM; echo ready; sleep 600 & sleep 600"}
)

// ProcMarker appears in the command line of every process the suite's
// long-running commands leave behind, so Target.Procs can find them.
const ProcMarker = "sleep 600"

// Target is a runtime with a running container to test in.
type Target struct {
	Runtime cri.Runtime
	// Running is a running container.
	Running cri.ContainerRef
	// Stopped, if set, returns a container that exists but is not running.
	Stopped func(t *testing.T) cri.ContainerRef
	// Orphan, if set, starts cmd in Running from another runtime (an
	// earlier agent process) that died: held (ready once it prints
	// "ready"), or run to completion; it returns once cmd runs.
	Orphan func(t *testing.T, cmd []string, held bool)
	// Procs lists the command lines of the processes in Running's
	// container.
	Procs func(t *testing.T) []string
	// Timeout is how long the suite's timeouts are: short for a fake under
	// synctest, a few seconds for a real runtime.
	Timeout time.Duration
	// Slack is how long past a timeout a call may return.
	Slack time.Duration
	// Run wraps each subtest body (e.g. synctest.Test for a fake); nil runs
	// it directly.
	Run func(t *testing.T, f func(t *testing.T))
}

// RuntimeSuite runs the conformance checks on the target newTarget builds
// (once per check).
func RuntimeSuite(t *testing.T, newTarget func(t *testing.T) Target) {
	for _, c := range []struct {
		name string
		f    func(t *testing.T, tg Target)
	}{
		{"ExitCodeAndOutput", testExitCodeAndOutput},
		{"OutputIsCapped", testOutputCapped},
		{"TimeoutKillsProcessTree", testTimeoutKillsTree},
		{"UnknownContainerIsNotFound", testUnknownContainer},
		{"StoppedContainerIsNotRunning", testStoppedContainer},
		{"HoldLifecycle", testHoldLifecycle},
		{"HoldReleaseTimeoutKillsTree", testHoldReleaseTimeout},
		{"HoldCancelledCallerReleases", testHoldCancel},
		{"ReapOrphansKillsOrphansOnly", testReapOrphans},
		{"PauseStopsCommandsUntilResume", testPauseResume},
	} {
		t.Run(c.name, func(t *testing.T) {
			run := func(t *testing.T, f func(t *testing.T)) { f(t) }
			tg := newTarget(t)
			if tg.Run != nil {
				run = tg.Run
			}
			run(t, func(t *testing.T) { c.f(t, newTargetIn(t, tg, newTarget)) })
		})
	}
}

// newTargetIn keeps tg when it needs no per-bubble setup. Targets that run
// in a synctest bubble are rebuilt inside it, so their goroutines and
// timers belong to the bubble.
func newTargetIn(t *testing.T, tg Target, newTarget func(t *testing.T) Target) Target {
	if tg.Run == nil {
		return tg
	}
	return newTarget(t)
}

func testExitCodeAndOutput(t *testing.T, tg Target) {
	res, err := tg.Runtime.Exec(t.Context(), tg.Running, CmdOutput, tg.Timeout)
	if err != nil {
		t.Fatalf("Exec(%q): %v", CmdOutput, err)
	}
	if res.ExitCode != 3 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.TimedOut || res.Truncated {
		t.Fatalf("Exec(%q) = exit %d, stdout %q, stderr %q, timedOut %v, truncated %v; want exit 3, \"out\\n\", \"err\\n\", false, false",
			CmdOutput, res.ExitCode, res.Stdout, res.Stderr, res.TimedOut, res.Truncated)
	}
}

func testOutputCapped(t *testing.T, tg Target) {
	res, err := tg.Runtime.Exec(t.Context(), tg.Running, CmdBigOutput, tg.Timeout)
	if err != nil {
		t.Fatalf("Exec(%q): %v", CmdBigOutput, err)
	}
	if res.ExitCode != 0 || len(res.Stdout) != cri.OutputCap || !res.Truncated {
		t.Fatalf("Exec(%q) = exit %d, %d bytes of stdout, truncated %v; want 0, %d, true",
			CmdBigOutput, res.ExitCode, len(res.Stdout), res.Truncated, cri.OutputCap)
	}
}

func testTimeoutKillsTree(t *testing.T, tg Target) {
	start := time.Now()
	res, err := tg.Runtime.Exec(t.Context(), tg.Running, CmdTree, tg.Timeout)
	took := time.Since(start)
	if !errors.Is(err, cri.ErrTimeout) || !res.TimedOut {
		t.Fatalf("Exec(%q, timeout %s) = timedOut %v, err %v; want timed out with ErrTimeout", CmdTree, tg.Timeout, res.TimedOut, err)
	}
	if took < tg.Timeout || took > tg.Timeout+tg.Slack {
		t.Errorf("Exec(%q, timeout %s) returned after %s; want between %s and %s", CmdTree, tg.Timeout, took, tg.Timeout, tg.Timeout+tg.Slack)
	}
	assertNoProcs(t, tg, "after a timed-out command")
}

func testUnknownContainer(t *testing.T, tg Target) {
	ref := tg.Running
	ref.Container = "no-such-container"
	_, err := tg.Runtime.Exec(t.Context(), ref, CmdOutput, tg.Timeout)
	if !errors.Is(err, cri.ErrContainerNotFound) {
		t.Fatalf("Exec in %s: err %v; want ErrContainerNotFound", ref, err)
	}
	if !strings.Contains(err.Error(), "no-such-container") {
		t.Errorf("error %q does not name the container", err)
	}
	_, err = tg.Runtime.Hold(t.Context(), ref, CmdHold, cri.HoldOptions{ReadyLine: "ready", ReadyTimeout: tg.Timeout})
	if !errors.Is(err, cri.ErrContainerNotFound) {
		t.Fatalf("Hold in %s: err %v; want ErrContainerNotFound", ref, err)
	}
}

func testStoppedContainer(t *testing.T, tg Target) {
	if tg.Stopped == nil {
		t.Skip("target has no stopped container")
	}
	ref := tg.Stopped(t)
	start := time.Now()
	_, err := tg.Runtime.Exec(t.Context(), ref, CmdOutput, tg.Timeout)
	if !errors.Is(err, cri.ErrContainerNotRunning) {
		t.Fatalf("Exec in stopped %s: err %v; want ErrContainerNotRunning", ref, err)
	}
	if took := time.Since(start); took > tg.Slack {
		t.Errorf("Exec in a stopped container took %s; want an error at once", took)
	}
	_, err = tg.Runtime.Hold(t.Context(), ref, CmdHold, cri.HoldOptions{ReadyLine: "ready", ReadyTimeout: tg.Timeout})
	if !errors.Is(err, cri.ErrContainerNotRunning) {
		t.Fatalf("Hold in stopped %s: err %v; want ErrContainerNotRunning", ref, err)
	}
}

func testHoldLifecycle(t *testing.T, tg Target) {
	h, err := tg.Runtime.Hold(t.Context(), tg.Running, CmdHold, cri.HoldOptions{
		ReadyLine: "ready", ReadyTimeout: tg.Timeout, ReleaseInput: "bye\n", ReleaseTimeout: tg.Timeout,
	})
	if err != nil {
		t.Fatalf("Hold(%q): %v", CmdHold, err)
	}
	select {
	case <-h.Done():
		t.Fatalf("held command is done before Release")
	default:
	}
	res, err := h.Release(t.Context())
	if err != nil {
		t.Fatalf("Release: %v", err)
	}
	if res.ExitCode != 0 || string(res.Stdout) != "ready\ngot bye\n" {
		t.Fatalf("Release = exit %d, stdout %q; want 0, \"ready\\ngot bye\\n\"", res.ExitCode, res.Stdout)
	}
	<-h.Done()
	if res2, err2 := h.Release(t.Context()); err2 != nil || res2.ExitCode != res.ExitCode {
		t.Errorf("second Release = %v, %v; want the first result", res2.ExitCode, err2)
	}
}

func testHoldReleaseTimeout(t *testing.T, tg Target) {
	h, err := tg.Runtime.Hold(t.Context(), tg.Running, CmdHoldForever, cri.HoldOptions{
		ReadyLine: "ready", ReadyTimeout: tg.Timeout, ReleaseTimeout: tg.Timeout,
	})
	if err != nil {
		t.Fatalf("Hold(%q): %v", CmdHoldForever, err)
	}
	if !slices.ContainsFunc(tg.Procs(t), func(p string) bool { return strings.Contains(p, ProcMarker) }) {
		t.Fatalf("held command not running: processes %q", tg.Procs(t))
	}
	start := time.Now()
	res, err := h.Release(t.Context())
	took := time.Since(start)
	if !errors.Is(err, cri.ErrTimeout) || !res.TimedOut {
		t.Fatalf("Release of a command that ignores release = timedOut %v, err %v; want ErrTimeout", res.TimedOut, err)
	}
	if took < tg.Timeout || took > tg.Timeout+tg.Slack {
		t.Errorf("Release returned after %s; want between %s and %s", took, tg.Timeout, tg.Timeout+tg.Slack)
	}
	assertNoProcs(t, tg, "after a held command was killed")
}

func testHoldCancel(t *testing.T, tg Target) {
	ctx, cancel := context.WithCancel(t.Context())
	h, err := tg.Runtime.Hold(ctx, tg.Running, CmdHoldForever, cri.HoldOptions{
		ReadyLine: "ready", ReadyTimeout: tg.Timeout, ReleaseTimeout: tg.Timeout,
	})
	if err != nil {
		t.Fatalf("Hold(%q): %v", CmdHoldForever, err)
	}
	cancel()
	select {
	case <-h.Done():
	case <-time.After(tg.Timeout + tg.Slack):
		t.Fatalf("held command not released %s after its caller's context was cancelled", tg.Timeout+tg.Slack)
	}
	assertNoProcs(t, tg, "after the holder's context was cancelled")
}

// testReapOrphans: a held command and an exec'd one that an earlier agent
// process left are killed; this runtime's own hold is not.
func testReapOrphans(t *testing.T, tg Target) {
	if tg.Orphan == nil {
		t.Skip("target cannot start orphaned holds")
	}
	own, err := tg.Runtime.Hold(t.Context(), tg.Running, CmdHold, cri.HoldOptions{
		ReadyLine: "ready", ReadyTimeout: tg.Timeout, ReleaseInput: "bye\n", ReleaseTimeout: tg.Timeout,
	})
	if err != nil {
		t.Fatalf("Hold(%q): %v", CmdHold, err)
	}
	tg.Orphan(t, CmdHoldForever, true)
	tg.Orphan(t, CmdTree, false)
	if n := countMarked(tg.Procs(t)); n < 2 {
		t.Fatalf("orphans not running (want both commands): processes %q", tg.Procs(t))
	}
	n, err := tg.Runtime.ReapOrphans(t.Context(), tg.Running)
	if err != nil || n < 2 {
		t.Fatalf("ReapOrphans = %d, %v; want both orphans' processes killed", n, err)
	}
	assertNoProcs(t, tg, "after ReapOrphans")
	select {
	case <-own.Done():
		t.Fatal("ReapOrphans ended the runtime's own hold")
	default:
	}
	if res, err := own.Release(t.Context()); err != nil || string(res.Stdout) != "ready\ngot bye\n" {
		t.Fatalf("own hold after ReapOrphans: Release = %q, %v; want it intact", res.Stdout, err)
	}
	ref := tg.Running
	ref.Container = "no-such-container"
	if _, err := tg.Runtime.ReapOrphans(t.Context(), ref); !errors.Is(err, cri.ErrContainerNotFound) {
		t.Fatalf("ReapOrphans in %s: %v; want ErrContainerNotFound", ref, err)
	}
}

// testPauseResume: nothing runs in a paused container; Pause and Resume
// are idempotent (a restarted agent resumes blindly); after Resume commands
// run again.
func testPauseResume(t *testing.T, tg Target) {
	for range 2 {
		if err := tg.Runtime.Pause(t.Context(), tg.Running); err != nil {
			t.Fatalf("Pause: %v", err)
		}
	}
	res, err := tg.Runtime.Exec(t.Context(), tg.Running, CmdOutput, tg.Timeout)
	if err == nil && !res.TimedOut {
		t.Fatalf("Exec in a paused container ran: exit %d, %q; want an error or a timeout", res.ExitCode, res.Stdout)
	}
	for range 2 {
		if err := tg.Runtime.Resume(t.Context(), tg.Running); err != nil {
			t.Fatalf("Resume: %v", err)
		}
	}
	res, err = tg.Runtime.Exec(t.Context(), tg.Running, CmdOutput, tg.Timeout)
	if err != nil || res.ExitCode != 3 {
		t.Fatalf("Exec after Resume = %d, %v; want exit 3", res.ExitCode, err)
	}
	ref := tg.Running
	ref.Container = "no-such-container"
	if err := tg.Runtime.Pause(t.Context(), ref); !errors.Is(err, cri.ErrContainerNotFound) {
		t.Fatalf("Pause of %s: %v; want ErrContainerNotFound", ref, err)
	}
}

func countMarked(procs []string) int {
	n := 0
	for _, p := range procs {
		if strings.Contains(p, ProcMarker) {
			n++
		}
	}
	return n
}

func assertNoProcs(t *testing.T, tg Target, when string) {
	t.Helper()
	for _, p := range tg.Procs(t) {
		if strings.Contains(p, ProcMarker) {
			t.Errorf("%s: process %q is still running", when, p)
		}
	}
}
