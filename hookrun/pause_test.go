package hookrun_test

import (
	"strings"
	"testing"

	"github.com/quiesce-dev/quiesce/cri/fake"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/hookrun"
)

// pauses lists the fake's Pause and Resume calls in order.
func pauses(rt *fake.Runtime) string {
	var s []string
	for _, p := range rt.PauseCalls() {
		verb := "resume"
		if p.Pause {
			verb = "pause"
		}
		s = append(s, verb+":"+p.Ref.Container)
	}
	return strings.Join(s, " ")
}

// Pre-hooks, then the pause; Thaw resumes before the post-hook runs (it
// could not run in a paused container: the fake refuses, like runc).
func TestPauseAfterPreHooksResumeBeforePostHooks(t *testing.T) {
	rt := newRuntime()
	post := exec("post", "db", hook.Fail)
	post.Phase = hook.PostBackup
	f, rs := hookrun.Freeze(t.Context(), rt, pod, []hook.Hook{exec("flush", "db", hook.Fail)}, hookrun.Options{Pause: []string{"db", "app"}})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := outcomes(rs), "flush=Succeeded pause=Held pause=Held"; got != want {
		t.Fatalf("freeze outcomes %q, want %q", got, want)
	}
	if !rt.Paused(ref("db")) || !rt.Paused(ref("app")) {
		t.Fatal("containers not paused after Freeze")
	}
	if rt.Ran([]string{"flush"}) != 1 {
		t.Fatal("pre-hook did not run before the pause")
	}
	ts := f.Thaw(t.Context(), []hook.Hook{post}, true)
	if err := ts.Err(); err != nil {
		t.Fatalf("thaw: %v", err)
	}
	if got, want := outcomes(ts), "resume=Released resume=Released post=Succeeded"; got != want {
		t.Errorf("thaw outcomes %q, want %q", got, want)
	}
	if rt.Paused(ref("db")) || rt.Paused(ref("app")) {
		t.Error("a container is still paused after Thaw")
	}
	if got, want := pauses(rt), "pause:db pause:app resume:db resume:app"; got != want {
		t.Errorf("runtime calls %q, want %q", got, want)
	}
}

// A pause that fails fails the pod (nothing is captured of a pod that
// asked for a pause and was not paused); Thaw resumes what was paused.
func TestPauseFailureFailsThePodAndThawResumes(t *testing.T) {
	rt := newRuntime()
	f, rs := hookrun.Freeze(t.Context(), rt, pod, nil, hookrun.Options{Pause: []string{"db", "sidecar", "app"}})
	err := rs.Err()
	if err == nil || !strings.Contains(err.Error(), `hook "pause" (annotation backup.quiesce.dev/freeze) in container "sidecar"`) {
		t.Fatalf("Err() = %v, want the sidecar's pause failure", err)
	}
	if rt.Paused(ref("app")) {
		t.Error("app was paused after an earlier pause failed")
	}
	f.Thaw(t.Context(), nil, false)
	if rt.Paused(ref("db")) {
		t.Error("db still paused after Thaw")
	}
}

// After an agent restart, Resume's Thaw resumes the containers an earlier
// process paused, before reaping its holds and running the post-hooks.
func TestResumeAfterRestartResumesPausedContainers(t *testing.T) {
	rt := newRuntime()
	rt.SetPaused(ref("db"))
	post := exec("post", "db", hook.Fail)
	post.Phase = hook.PostBackup
	f := hookrun.Resume(rt, pod, nil, hookrun.Options{Pause: []string{"db"}})
	rs := f.Thaw(t.Context(), []hook.Hook{post}, false)
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	if rt.Paused(ref("db")) {
		t.Fatal("db still paused")
	}
	if got, want := outcomes(rs), "resume=Released post=Succeeded"; got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}
}
