package containerd_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/cri"
)

func noSleepLeft(t *testing.T, ps []string, when string) {
	t.Helper()
	if i := slices.IndexFunc(ps, func(p string) bool { return strings.Contains(p, "sleep 600") }); i >= 0 {
		t.Errorf("%s: process %q still running in the container", when, ps[i])
	}
}

func TestNotRunningContainer(t *testing.T) {
	rt, pod := setup(t, "app", "sidecar")
	env.StopContainer(t, pod, "sidecar")
	start := time.Now()
	_, err := rt.Exec(t.Context(), ref(pod, "sidecar"), []string{"true"}, 5*time.Second)
	if !errors.Is(err, cri.ErrContainerNotRunning) {
		t.Fatalf("Exec in a stopped container: %v; want ErrContainerNotRunning", err)
	}
	if !strings.Contains(err.Error(), `"sidecar"`) || !strings.Contains(err.Error(), pod.Name) {
		t.Errorf("error %q does not name the container and the pod", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("not-running error took %s", took)
	}
}

func TestUnknownPod(t *testing.T) {
	rt, pod := setup(t)
	r := ref(pod, "app")
	r.PodUID = "00000000-0000-0000-0000-000000000000"
	if _, err := rt.Exec(t.Context(), r, []string{"true"}, 5*time.Second); !errors.Is(err, cri.ErrContainerNotFound) {
		t.Fatalf("Exec in an unknown pod: %v; want ErrContainerNotFound", err)
	}
}

// A child that escaped its parent (double fork: re-parented to the
// container's init) is still part of the hook and is killed.
func TestTimeoutKillsReparentedChild(t *testing.T) {
	rt, pod := setup(t)
	cmd := []string{"sh", "-c", "(sleep 600 &); sleep 600"}
	res, err := rt.Exec(t.Context(), ref(pod, "app"), cmd, 2*time.Second)
	if !errors.Is(err, cri.ErrTimeout) || !res.TimedOut {
		t.Fatalf("Exec(%q) = %+v, %v; want a timeout", cmd, res, err)
	}
	noSleepLeft(t, procs(t, pod, "app"), "after the timeout")
}

// A command that exits leaving a background child holding its output
// returns promptly with its exit code, and the child is gone.
func TestBackgroundChildDoesNotBlock(t *testing.T) {
	rt, pod := setup(t)
	cmd := []string{"sh", "-c", "sleep 600 & echo done"}
	start := time.Now()
	res, err := rt.Exec(t.Context(), ref(pod, "app"), cmd, 30*time.Second)
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "done\n" || res.TimedOut {
		t.Fatalf("Exec(%q) = %+v, %v; want exit 0, stdout \"done\\n\"", cmd, res, err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Exec took %s: the background child blocked it", took)
	}
	noSleepLeft(t, procs(t, pod, "app"), "after the command exited")
}

func TestCommandRunsAsContainerProcess(t *testing.T) {
	rt, pod := setup(t)
	res, err := rt.Exec(t.Context(), ref(pod, "app"), []string{"sh", "-c", "echo $PATH; cat /proc/1/cmdline | tr '\\0' ' '"}, 10*time.Second)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Exec: %+v, %v", res, err)
	}
	lines := strings.Split(string(res.Stdout), "\n")
	if lines[0] != "/usr/sbin:/usr/bin:/sbin:/bin" || !strings.Contains(lines[1], "sleep 2147483647") {
		t.Fatalf("stdout %q: want the image's PATH and the container's own PID 1 (sleep)", res.Stdout)
	}
}

// flockHold holds /tmp/lock while it lives: the held hook of a database
// that only stays frozen while its client session does.
var flockHold = []string{"flock", "/tmp/lock", "-c", "echo ready; cat"}

func TestHoldFlock(t *testing.T) {
	rt, pod := setup(t)
	tryLock := func() int {
		_, code := env.ExecSync(t, pod, "app", "flock", "-n", "/tmp/lock", "-c", "true")
		return code
	}
	h, err := rt.Hold(t.Context(), ref(pod, "app"), flockHold, cri.HoldOptions{ReadyLine: "ready", ReadyTimeout: 10 * time.Second, ReleaseTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Hold(%q): %v", flockHold, err)
	}
	if code := tryLock(); code != 1 {
		t.Fatalf("flock -n /tmp/lock exit %d while the hold was held; want 1 (lock taken)", code)
	}
	res, err := h.Release(t.Context())
	if err != nil || res.ExitCode != 0 || res.TimedOut {
		t.Fatalf("Release = %+v, %v; want a clean exit (cat ends at EOF)", res, err)
	}
	if code := tryLock(); code != 0 {
		t.Fatalf("flock -n /tmp/lock exit %d after release; want 0", code)
	}
	for _, p := range procs(t, pod, "app") {
		if strings.Contains(p, "flock") || p == "cat" {
			t.Errorf("process %q left after release", p)
		}
	}
}

func TestHoldFlockReleasedWhenCallerGoesAway(t *testing.T) {
	rt, pod := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	h, err := rt.Hold(ctx, ref(pod, "app"), flockHold, cri.HoldOptions{ReadyLine: "ready", ReadyTimeout: 10 * time.Second, ReleaseTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("Hold(%q): %v", flockHold, err)
	}
	if _, code := env.ExecSync(t, pod, "app", "flock", "-n", "/tmp/lock", "-c", "true"); code != 1 {
		t.Fatalf("flock -n /tmp/lock exit %d while the hold was held; want 1 (lock taken)", code)
	}
	cancel()
	select {
	case <-h.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("hold not released 20s after its caller's context was cancelled")
	}
	if _, code := env.ExecSync(t, pod, "app", "flock", "-n", "/tmp/lock", "-c", "true"); code != 0 {
		t.Fatalf("flock -n /tmp/lock exit %d after the caller went away; want 0", code)
	}
}

func TestHoldReadyTimeout(t *testing.T) {
	rt, pod := setup(t)
	cmd := []string{"sh", "-c", "sleep 600"}
	_, err := rt.Hold(t.Context(), ref(pod, "app"), cmd, cri.HoldOptions{ReadyLine: "ready", ReadyTimeout: time.Second})
	if !errors.Is(err, cri.ErrTimeout) {
		t.Fatalf("Hold of a command that never gets ready: %v; want ErrTimeout", err)
	}
	noSleepLeft(t, procs(t, pod, "app"), "after the ready timeout")
}

func TestHoldExitsBeforeReady(t *testing.T) {
	rt, pod := setup(t)
	cmd := []string{"sh", "-c", "echo nope >&2; exit 4"}
	_, err := rt.Hold(t.Context(), ref(pod, "app"), cmd, cri.HoldOptions{ReadyLine: "ready", ReadyTimeout: 10 * time.Second})
	if !errors.Is(err, cri.ErrHoldLost) || !strings.Contains(err.Error(), "code 4") {
		t.Fatalf("Hold of a command that exits: %v; want ErrHoldLost naming exit code 4", err)
	}
}
