package hookrun_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/cri/containerd"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/hookrun"
	"github.com/quiesce-dev/quiesce/internal/testenv"
)

// env is one containerd for the package's integration tests.
var env *testenv.Containerd

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int { return testenv.RunMain(m, "quiesce-hookrun-", &env, nil) }

// realPod starts a pod whose containers share /shared, and a runtime.
func realPod(t *testing.T, containers ...string) (*containerd.Runtime, hookrun.PodRef, string, *testenv.Pod) {
	t.Helper()
	testenv.Integration(t)
	shared := t.TempDir()
	spec := testenv.PodSpec{Namespace: "shop", Name: "db-0"}
	for _, c := range containers {
		spec.Containers = append(spec.Containers, testenv.ContainerSpec{Name: c, Mounts: map[string]string{"/shared": shared}})
	}
	p := env.RunPod(t, spec)
	rt, err := containerd.New(containerd.Options{Endpoint: env.Endpoint, FIFODir: env.FIFODir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt, hookrun.PodRef{Namespace: p.Namespace, Name: p.Name, UID: p.UID}, shared, p
}

func shHook(name, container, script string, onError hook.OnError) hook.Hook {
	return hook.Hook{Name: name, Phase: hook.PreBackup, Container: container, Command: []string{"sh", "-c", script},
		Timeout: 10 * time.Second, OnError: onError}
}

func TestIntegrationOrderedMultiContainer(t *testing.T) {
	rt, pod, shared, _ := realPod(t, "db", "app")
	appendName := func(name, container string) hook.Hook {
		return shHook(name, container, "echo "+name+" $(hostname) >> /shared/order", hook.Fail)
	}
	hooks := []hook.Hook{appendName("one", "app"), appendName("two", "db"), appendName("three", "app"), appendName("four", "db")}
	rs := hookrun.Run(t.Context(), rt, pod, hooks, hookrun.Options{})
	if rs.Failed() {
		t.Fatalf("hooks failed: %v", rs.Err())
	}
	b, err := os.ReadFile(filepath.Join(shared, "order"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		names = append(names, strings.Fields(l)[0])
	}
	if got := strings.Join(names, " "); got != "one two three four" {
		t.Fatalf("hooks ran in order %q; want one two three four", got)
	}
}

func TestIntegrationFailingHookStopsPhase(t *testing.T) {
	rt, pod, shared, _ := realPod(t, "db")
	hooks := []hook.Hook{
		shHook("warn", "db", "echo soft >&2; exit 5", hook.Continue),
		shHook("freeze", "db", "echo 'cannot freeze: read-only' >&2; exit 3", hook.Fail),
		shHook("after", "db", "touch /shared/after", hook.Fail),
	}
	rs := hookrun.Run(t.Context(), rt, pod, hooks, hookrun.Options{})
	if outcomes(rs) != "warn=Failed freeze=Failed after=Skipped" {
		t.Fatalf("outcomes %q", outcomes(rs))
	}
	if rs[1].ExitCode != 3 || rs[1].Stderr != "cannot freeze: read-only\n" || !strings.Contains(rs.Err().Error(), "exit code 3: cannot freeze: read-only") {
		t.Fatalf("freeze result: exit %d, stderr %q, err %v", rs[1].ExitCode, rs[1].Stderr, rs.Err())
	}
	if _, err := os.Stat(filepath.Join(shared, "after")); err == nil {
		t.Fatal("the hook after a failing Fail hook ran")
	}
}

func TestIntegrationTimeout(t *testing.T) {
	rt, pod, _, p := realPod(t, "db")
	h := shHook("slow", "db", "sleep 600 & sleep 600", hook.Fail)
	h.Timeout = 2 * time.Second
	start := time.Now()
	rs := hookrun.Run(t.Context(), rt, pod, []hook.Hook{h}, hookrun.Options{})
	took := time.Since(start)
	if !rs[0].TimedOut || !errors.Is(rs[0].Err, cri.ErrTimeout) {
		t.Fatalf("result %+v; want a timeout", rs[0])
	}
	if took < 2*time.Second || took > 5*time.Second {
		t.Errorf("timed-out hook reported after %s; want 2s to 5s", took)
	}
	ps, _ := env.ExecSync(t, p, "db", "ps", "-o", "args")
	if strings.Contains(ps, "sleep 600") {
		t.Fatalf("processes left after the timeout:\n%s", ps)
	}
}

func TestIntegrationMissingContainer(t *testing.T) {
	rt, pod, _, _ := realPod(t, "db")
	rs := hookrun.Run(t.Context(), rt, pod, []hook.Hook{shHook("x", "nginx", "true", hook.Fail)}, hookrun.Options{})
	if !errors.Is(rs[0].Err, cri.ErrContainerNotFound) || !strings.Contains(rs[0].Err.Error(), `"nginx"`) {
		t.Fatalf("result %+v; want container not found naming nginx", rs[0])
	}
}

// A Hold-mode pre-hook holds a flock between Freeze and Thaw.
func TestIntegrationFreezeThawFlock(t *testing.T) {
	rt, pod, _, p := realPod(t, "db", "app")
	held := shHook("lock", "db", "", hook.Fail)
	held.Command = []string{"flock", "/tmp/lock", "-c", "echo locked; cat"}
	held.Mode, held.Hold = hook.Hold, &hook.HoldSpec{ReadyLine: "locked", ReadyTimeout: 10 * time.Second, ReleaseTimeout: 10 * time.Second}
	f, rs := hookrun.Freeze(t.Context(), rt, pod, []hook.Hook{held, shHook("flush", "app", "sync", hook.Fail)}, hookrun.Options{})
	if rs.Failed() || f.Held() != 1 {
		t.Fatalf("Freeze: %q, %v", outcomes(rs), rs.Err())
	}
	if _, code := env.ExecSync(t, p, "db", "flock", "-n", "/tmp/lock", "-c", "true"); code != 1 {
		t.Fatalf("flock -n exit %d while frozen; want 1 (held)", code)
	}
	post := shHook("notify", "app", "echo thawed", hook.Fail)
	post.Phase = hook.PostBackup
	trs := f.Thaw(t.Context(), []hook.Hook{post}, true)
	if outcomes(trs) != "lock=Released notify=Succeeded" {
		t.Fatalf("Thaw: %q, %v", outcomes(trs), trs.Err())
	}
	if _, code := env.ExecSync(t, p, "db", "flock", "-n", "/tmp/lock", "-c", "true"); code != 0 {
		t.Fatalf("flock -n exit %d after thaw; want 0 (released)", code)
	}
	ps, _ := env.ExecSync(t, p, "db", "ps", "-o", "args")
	if strings.Contains(ps, "flock") || strings.Contains(ps, "\ncat") {
		t.Fatalf("processes left after thaw:\n%s", ps)
	}
}

// The agent died while a flock hold was held: a new agent process resumes
// from its journal and its Thaw frees the lock.
func TestIntegrationResumeReapsOrphanedFlock(t *testing.T) {
	rt, pod, _, p := realPod(t, "db")
	held := shHook("lock", "db", "", hook.Fail)
	held.Command = []string{"flock", "/tmp/lock", "-c", "echo locked; cat"}
	held.Mode, held.Hold = hook.Hold, &hook.HoldSpec{ReadyLine: "locked", ReadyTimeout: 10 * time.Second, ReleaseTimeout: 10 * time.Second}

	earlier, err := containerd.New(containerd.Options{Endpoint: env.Endpoint, FIFODir: env.FIFODir})
	if err != nil {
		t.Fatal(err)
	}
	frozen, rs := hookrun.Freeze(context.WithoutCancel(t.Context()), earlier, pod, []hook.Hook{held}, hookrun.Options{})
	if rs.Failed() {
		t.Fatalf("Freeze: %v", rs.Err())
	}
	t.Cleanup(func() { frozen.Thaw(t.Context(), nil, false); earlier.Close() }) // frees the dead agent's FIFOs
	if _, code := env.ExecSync(t, p, "db", "flock", "-n", "/tmp/lock", "-c", "true"); code != 1 {
		t.Fatalf("flock -n exit %d while frozen; want 1 (held)", code)
	}

	trs := hookrun.Resume(rt, pod, []hook.Hook{held}, hookrun.Options{}).Thaw(t.Context(), nil, false)
	if trs.Failed() || !strings.Contains(trs[0].Reason, "reaped: killed") {
		t.Fatalf("Thaw after Resume: %+v", trs)
	}
	if _, code := env.ExecSync(t, p, "db", "flock", "-n", "/tmp/lock", "-c", "true"); code != 0 {
		t.Fatalf("flock -n exit %d after the resumed thaw; want 0 (released)", code)
	}
}

// The agent died while an ordinary pre-hook ran ("wait, then freeze"): the
// resumed thaw kills it first, so its freeze step never runs after the
// thaw (issue 14: it ran 31s after the thaw).
func TestIntegrationResumeKillsUnfinishedPreHook(t *testing.T) {
	rt, pod, _, p := realPod(t, "db")
	pre := shHook("wait-then-freeze", "db", "sleep 3; touch /tmp/frozen-late", hook.Fail)
	earlier, err := containerd.New(containerd.Options{Endpoint: env.Endpoint, FIFODir: env.FIFODir})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // the earlier agent process, which dies with this hook running
		hookrun.Freeze(context.WithoutCancel(t.Context()), earlier, pod, []hook.Hook{pre}, hookrun.Options{})
		close(done)
	}()
	t.Cleanup(func() { <-done; earlier.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for ps, _ := env.ExecSync(t, p, "db", "ps", "-o", "args"); !strings.Contains(ps, "sleep 3"); ps, _ = env.ExecSync(t, p, "db", "ps", "-o", "args") {
		if time.Now().After(deadline) {
			t.Fatalf("pre-hook not running:\n%s", ps)
		}
		time.Sleep(50 * time.Millisecond)
	}

	post := shHook("thaw", "db", "touch /tmp/thawed", hook.Fail)
	post.Phase = hook.PostBackup
	trs := hookrun.Resume(rt, pod, []hook.Hook{pre}, hookrun.Options{}).Thaw(t.Context(), []hook.Hook{post}, false)
	if trs.Failed() || len(trs) != 2 || trs[0].Outcome != hookrun.Skipped || !strings.Contains(trs[0].Reason, "not finished: killed") {
		t.Fatalf("Thaw after Resume: %+v", trs)
	}
	time.Sleep(4 * time.Second) // past the hook's freeze step, had it lived
	if _, code := env.ExecSync(t, p, "db", "test", "-e", "/tmp/frozen-late"); code == 0 {
		t.Fatal("the orphaned pre-hook froze after the thaw")
	}
	if ps, _ := env.ExecSync(t, p, "db", "ps", "-o", "args"); strings.Contains(ps, "sleep 3") {
		t.Fatalf("pre-hook still running after the thaw:\n%s", ps)
	}
}
