package hookrun_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/cri/fake"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/hookrun"
)

var pod = hookrun.PodRef{Namespace: "shop", Name: "db-0", UID: "uid-1"}

func ref(container string) cri.ContainerRef {
	return cri.ContainerRef{PodUID: pod.UID, PodNamespace: pod.Namespace, PodName: pod.Name, Container: container}
}

func newRuntime() *fake.Runtime {
	return fake.New().AddContainer(ref("db"), true).AddContainer(ref("app"), true)
}

func exec(name, container string, onError hook.OnError) hook.Hook {
	return hook.Hook{Name: name, Phase: hook.PreBackup, Container: container, Command: []string{name}, Timeout: 10 * time.Second, OnError: onError,
		Source: hook.Source{Kind: "annotation", Ref: "pre.hook.backup.quiesce.dev/hooks"}}
}

func outcomes(rs hookrun.Results) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Hook+"="+string(r.Outcome))
	}
	return strings.Join(s, " ")
}

func ranOrder(rt *fake.Runtime) string {
	var s []string
	for _, c := range rt.Calls() {
		s = append(s, c.Ref.Container+":"+c.Command[0])
	}
	return strings.Join(s, " ")
}

func TestOnError(t *testing.T) {
	rt := newRuntime().
		Script([]string{"a"}, fake.Output(1, "", "a broke\n")).
		Script([]string{"c"}, fake.Output(2, "", "first\nc broke\n"))
	hooks := []hook.Hook{exec("a", "db", hook.Continue), exec("b", "app", hook.Fail), exec("c", "db", hook.Fail), exec("d", "app", hook.Fail)}
	rs := hookrun.Run(t.Context(), rt, pod, hooks, hookrun.Options{})
	if got, want := outcomes(rs), "a=Failed b=Succeeded c=Failed d=Skipped"; got != want {
		t.Fatalf("outcomes %q; want %q", got, want)
	}
	if got, want := ranOrder(rt), "db:a app:b db:c"; got != want {
		t.Errorf("ran %q; want %q", got, want)
	}
	err := rs.Err()
	if err == nil || strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("Err() = %v; want only c's failure (a has onError Continue)", err)
	}
	want := `pod shop/db-0: pre hook "c" (annotation pre.hook.backup.quiesce.dev/hooks) in container "db": exit code 2: c broke`
	if err.Error() != want {
		t.Errorf("Err() = %q;\nwant %q", err, want)
	}
	if rs[2].ExitCode != 2 || rs[2].Stderr != "first\nc broke\n" || rs[3].Reason == "" {
		t.Errorf("results %+v", rs)
	}
}

// flaky fails n times, then succeeds.
func flaky(n int) fake.Program {
	return func(_ context.Context, s fake.Stdio) int {
		if n > 0 {
			n--
			return 1
		}
		return 0
	}
}

func TestRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, c := range []struct {
			retries, fails int
			want           hookrun.Outcome
			attempts       int
		}{
			{retries: 2, fails: 2, want: hookrun.Succeeded, attempts: 3},
			{retries: 1, fails: 2, want: hookrun.Failed, attempts: 2},
			{retries: 0, fails: 0, want: hookrun.Succeeded, attempts: 1},
		} {
			rt := newRuntime().Script([]string{"x"}, flaky(c.fails))
			h := exec("x", "db", hook.Fail)
			h.Retries = c.retries
			rs := hookrun.Run(t.Context(), rt, pod, []hook.Hook{h}, hookrun.Options{})
			if rs[0].Outcome != c.want || rs[0].Attempts != c.attempts || rt.Ran([]string{"x"}) != c.attempts {
				t.Errorf("retries %d, %d failures: %s after %d attempts (%d runs); want %s after %d",
					c.retries, c.fails, rs[0].Outcome, rs[0].Attempts, rt.Ran([]string{"x"}), c.want, c.attempts)
			}
		}
	})
}

func TestMissingContainerNotRetried(t *testing.T) {
	h := exec("x", "nope", hook.Fail)
	h.Retries = 3
	rs := hookrun.Run(t.Context(), newRuntime(), pod, []hook.Hook{h}, hookrun.Options{})
	if rs[0].Attempts != 1 || !errors.Is(rs[0].Err, cri.ErrContainerNotFound) {
		t.Fatalf("result %+v; want one attempt failing with ErrContainerNotFound", rs[0])
	}
}

func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime().Script([]string{"hang"}, fake.Hang())
		h := exec("hang", "db", hook.Fail)
		h.Timeout = 30 * time.Second
		start := time.Now()
		rs := hookrun.Run(t.Context(), rt, pod, []hook.Hook{h, exec("next", "db", hook.Fail)}, hookrun.Options{})
		if took := time.Since(start); took != 30*time.Second {
			t.Errorf("timed-out hook returned after %s; want 30s", took)
		}
		if !rs[0].TimedOut || !errors.Is(rs[0].Err, cri.ErrTimeout) || rs[1].Outcome != hookrun.Skipped {
			t.Fatalf("results %+v; want a timeout, then next skipped", rs)
		}
	})
}

func TestDefaultTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime().Script([]string{"hang"}, fake.Hang())
		h := exec("hang", "db", hook.Fail)
		h.Timeout = 0
		start := time.Now()
		hookrun.Run(t.Context(), rt, pod, []hook.Hook{h}, hookrun.Options{})
		if took := time.Since(start); took != hook.DefaultTimeout {
			t.Errorf("hook without timeout ran %s; want the default %s", took, hook.DefaultTimeout)
		}
	})
}

func TestWhen(t *testing.T) {
	post := func(name string, when hook.When) hook.Hook {
		h := exec(name, "app", hook.Continue)
		h.Phase, h.When = hook.PostBackup, when
		return h
	}
	hooks := []hook.Hook{post("always", hook.Always), post("ok", hook.OnSuccess), post("ko", hook.OnFailure), post("unset", "")}
	for _, c := range []struct {
		captureOK bool
		want      string
	}{
		{true, "always=Succeeded ok=Succeeded ko=Skipped unset=Succeeded"},
		{false, "always=Succeeded ok=Skipped ko=Succeeded unset=Succeeded"},
	} {
		rt := newRuntime()
		f, _ := hookrun.Freeze(t.Context(), rt, pod, nil, hookrun.Options{})
		if got := outcomes(f.Thaw(t.Context(), hooks, c.captureOK)); got != c.want {
			t.Errorf("captureOK %v: %q; want %q", c.captureOK, got, c.want)
		}
	}
}

func TestHoldHookOutsideFreezeFails(t *testing.T) {
	h := exec("x", "db", hook.Fail)
	h.Mode = hook.Hold
	rs := hookrun.Run(t.Context(), newRuntime(), pod, []hook.Hook{h}, hookrun.Options{})
	if !rs.Failed() || !strings.Contains(rs[0].Err.Error(), "Freeze") {
		t.Fatalf("results %+v; want a failure explaining Hold needs Freeze", rs)
	}
}

// lock is a held program: it prints ready and holds until stdin closes.
func lock(_ context.Context, s fake.Stdio) int {
	io.WriteString(s.Stdout, "locked\n")
	io.Copy(io.Discard, s.Stdin)
	return 0
}

func holdHook(name string) hook.Hook {
	h := exec(name, "db", hook.Fail)
	h.Mode = hook.Hold
	h.Hold = &hook.HoldSpec{ReadyLine: "locked", ReleaseTimeout: 5 * time.Second}
	return h
}

func TestFreezeThawHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime().Script([]string{"lock"}, lock)
		post := exec("notify", "app", hook.Fail)
		post.Phase = hook.PostBackup
		f, rs := hookrun.Freeze(t.Context(), rt, pod, []hook.Hook{holdHook("lock"), exec("flush", "app", hook.Fail)}, hookrun.Options{})
		if got := outcomes(rs); got != "lock=Held flush=Succeeded" || f.Held() != 1 {
			t.Fatalf("Freeze: %q, %d held", got, f.Held())
		}
		if live := rt.Live(); len(live) != 1 || live[0] != "lock" {
			t.Fatalf("live processes while frozen: %q; want the lock", live)
		}
		trs := f.Thaw(t.Context(), []hook.Hook{post}, true)
		if got := outcomes(trs); got != "lock=Released notify=Succeeded" {
			t.Fatalf("Thaw: %q", got)
		}
		if got := ranOrder(rt); got != "app:flush db:lock app:notify" {
			t.Errorf("finished in order %q; want the lock released before the post-hook", got)
		}
		if live := rt.Live(); len(live) != 0 {
			t.Errorf("live after thaw: %q", live)
		}
		if again := f.Thaw(t.Context(), []hook.Hook{post}, true); len(again) != 2 || rt.Ran([]string{"notify"}) != 1 {
			t.Errorf("second Thaw ran hooks again")
		}
	})
}

// A pre-hook fails after a hold: the pod must not be captured, and Thaw
// still releases the hold.
func TestFailedFreezeStillThaws(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime().Script([]string{"lock"}, lock).Script([]string{"flush"}, fake.Output(1, "", "disk full\n"))
		f, rs := hookrun.Freeze(t.Context(), rt, pod, []hook.Hook{holdHook("lock"), exec("flush", "app", hook.Fail), exec("never", "app", hook.Fail)}, hookrun.Options{})
		if rs.Err() == nil || outcomes(rs) != "lock=Held flush=Failed never=Skipped" {
			t.Fatalf("Freeze: %q, err %v", outcomes(rs), rs.Err())
		}
		trs := f.Thaw(t.Context(), nil, false)
		if outcomes(trs) != "lock=Released" || len(rt.Live()) != 0 {
			t.Fatalf("Thaw: %q, live %q", outcomes(trs), rt.Live())
		}
	})
}

// Thaw runs even when the context it is given is already cancelled (the
// backup was cancelled): the thaw guarantee.
func TestThawIgnoresCancelledContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime().Script([]string{"lock"}, lock)
		f, _ := hookrun.Freeze(t.Context(), rt, pod, []hook.Hook{holdHook("lock")}, hookrun.Options{})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		post := exec("unfreeze", "app", hook.Fail)
		post.Phase = hook.PostBackup
		if got := outcomes(f.Thaw(ctx, []hook.Hook{post}, false)); got != "lock=Released unfreeze=Succeeded" {
			t.Fatalf("Thaw with a cancelled context: %q", got)
		}
	})
}

// The caller of Freeze goes away: the runtime releases the hold.
func TestFreezeCallerGoesAway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime().Script([]string{"lock"}, lock)
		ctx, cancel := context.WithCancel(t.Context())
		hookrun.Freeze(ctx, rt, pod, []hook.Hook{holdHook("lock")}, hookrun.Options{})
		cancel()
		synctest.Wait()
		if live := rt.Live(); len(live) != 0 {
			t.Fatalf("live after the caller went away: %q", live)
		}
	})
}

// A held program that ignores its release is killed after ReleaseTimeout
// and reported as failed.
func TestReleaseTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stubborn := func(ctx context.Context, s fake.Stdio) int {
			io.WriteString(s.Stdout, "locked\n")
			<-ctx.Done()
			return -1
		}
		rt := newRuntime().Script([]string{"lock"}, stubborn)
		f, _ := hookrun.Freeze(t.Context(), rt, pod, []hook.Hook{holdHook("lock")}, hookrun.Options{})
		start := time.Now()
		trs := f.Thaw(t.Context(), nil, true)
		if took := time.Since(start); took != 5*time.Second || !trs[0].Failed() || !trs[0].TimedOut {
			t.Fatalf("Thaw took %s, result %+v; want a timed-out release after 5s", took, trs[0])
		}
	})
}

func TestReleaseInput(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		psql := func(_ context.Context, s fake.Stdio) int {
			io.WriteString(s.Stdout, "locked\n")
			line, _ := bufio.NewReader(s.Stdin).ReadString('\n')
			io.WriteString(s.Stdout, "got "+line)
			return 0
		}
		rt := newRuntime().Script([]string{"lock"}, psql)
		h := holdHook("lock")
		h.Hold.ReleaseInput = "UNLOCK TABLES;\n"
		f, _ := hookrun.Freeze(t.Context(), rt, pod, []hook.Hook{h}, hookrun.Options{})
		trs := f.Thaw(t.Context(), nil, true)
		if trs[0].Outcome != hookrun.Released || trs[0].Stdout != "locked\ngot UNLOCK TABLES;\n" {
			t.Fatalf("release: %+v", trs[0])
		}
	})
}

func TestLogFields(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	hookrun.Run(t.Context(), newRuntime(), pod, []hook.Hook{exec("a", "db", hook.Fail)}, hookrun.Options{Logger: zap.New(core)})
	entries := logs.All()
	if len(entries) != 1 {
		t.Fatalf("%d log entries; want 1", len(entries))
	}
	m := entries[0].ContextMap()
	for k, want := range map[string]any{"pod": "shop/db-0", "podUID": "uid-1", "container": "db", "hook": "a", "phase": "pre"} {
		if m[k] != want {
			t.Errorf("log field %s = %v; want %v", k, m[k], want)
		}
	}
	if _, ok := m["duration"]; !ok {
		t.Errorf("log has no duration field: %v", m)
	}
}

// The agent restarted while the pod was frozen: Resume's Thaw kills the
// hold the earlier process left, then runs the post-hooks.
func TestResumeReapsOrphanedHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The orphaned hold keeps holding until killed (unscripted, it
		// would exit at once, racing the reap).
		rt := newRuntime().Script([]string{"lock"}, fake.Hang())
		if err := rt.Orphan(ref("db"), []string{"lock"}, true); err != nil {
			t.Fatal(err)
		}
		post := exec("notify", "app", hook.Fail)
		post.Phase = hook.PostBackup
		f := hookrun.Resume(rt, pod, []hook.Hook{holdHook("lock"), exec("flush", "app", hook.Fail)}, hookrun.Options{})
		trs := f.Thaw(t.Context(), []hook.Hook{post}, false)
		if got := outcomes(trs); got != "lock=Released notify=Succeeded" {
			t.Fatalf("Thaw after Resume: %q", got)
		}
		if !strings.Contains(trs[0].Reason, "killed 1 process") || len(rt.Live()) != 0 {
			t.Fatalf("reap: %q, live %q", trs[0].Reason, rt.Live())
		}
	})
}

// A runtime that does not answer (a shim blocked by a client that died
// mid-exec-start) is retried: the orphaned hold still dies before the
// post-hooks run.
func TestResumeRetriesAReapTheRuntimeDoesNotAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime().Script([]string{"lock"}, fake.Hang())
		if err := rt.Orphan(ref("db"), []string{"lock"}, true); err != nil {
			t.Fatal(err)
		}
		rt.ReapUnavailable(3)
		post := exec("notify", "app", hook.Fail)
		post.Phase = hook.PostBackup
		trs := hookrun.Resume(rt, pod, []hook.Hook{holdHook("lock")}, hookrun.Options{}).Thaw(t.Context(), []hook.Hook{post}, false)
		if got := outcomes(trs); got != "lock=Released notify=Succeeded" || len(rt.Live()) != 0 {
			t.Fatalf("Thaw after Resume with the runtime down 3 times: %q, live %q", got, rt.Live())
		}
	})
}

// A post-hook the runtime cannot start (containerd restarting) is tried
// again until it runs: it is what unlocks the application. Found by the
// fault matrix: the thaw gave up at once and the pod stayed frozen.
func TestThawWaitsForTheRuntimeToRunPostHooks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := newRuntime()
		f, rs := hookrun.Freeze(t.Context(), rt, pod, []hook.Hook{exec("flush", "app", hook.Fail)}, hookrun.Options{})
		if rs.Failed() {
			t.Fatal(rs.Err())
		}
		post := exec("unlock", "app", hook.Fail)
		post.Phase = hook.PostBackup
		rt.FailWith(post.Command, fmt.Errorf("containerd restarting: %w", cri.ErrUnavailable))
		go func() { time.Sleep(5 * time.Second); rt.FailWith(post.Command, nil) }()
		trs := f.Thaw(t.Context(), []hook.Hook{post}, true)
		if got := outcomes(trs); got != "unlock=Succeeded" || rt.Ran(post.Command) != 1 {
			t.Fatalf("Thaw with the runtime down 5s: %q, ran %d", got, rt.Ran(post.Command))
		}
	})
}

// A hold whose process exits non-zero once released (pg_backup_stop or
// UNLOCK failed) is a failed hook, not a clean release.
func TestHoldFailingAfterReleaseFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		failing := func(ctx context.Context, s fake.Stdio) int {
			io.WriteString(s.Stdout, "locked\n")
			_, _ = io.ReadAll(s.Stdin)
			io.WriteString(s.Stderr, "ERROR: backup is not in progress\n")
			return 1
		}
		rt := newRuntime().Script([]string{"lock"}, failing)
		f, rs := hookrun.Freeze(t.Context(), rt, pod, []hook.Hook{holdHook("lock")}, hookrun.Options{})
		if err := rs.Err(); err != nil {
			t.Fatal(err)
		}
		trs := f.Thaw(t.Context(), nil, true)
		if got := outcomes(trs); got != "lock=Failed" {
			t.Fatalf("Thaw: %q, want the hold failed", got)
		}
		if err := trs.Err(); err == nil || !strings.Contains(err.Error(), "after release: exit code 1: ERROR: backup is not in progress") {
			t.Errorf("Err() = %v", err)
		}
	})
}
