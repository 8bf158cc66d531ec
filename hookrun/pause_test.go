package hookrun_test

import (
	"errors"
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

// fakeFS records freezes and thaws; a directory in refuse cannot be frozen.
type fakeFS struct {
	log    []string
	frozen map[string]bool
	refuse string
}

func (f *fakeFS) Freeze(dir string) error {
	if dir == f.refuse {
		return errors.New("not a filesystem of its own")
	}
	f.log = append(f.log, "freeze:"+dir)
	f.frozen[dir] = true
	return nil
}

func (f *fakeFS) Thaw(dir string) error {
	f.log = append(f.log, "thaw:"+dir)
	delete(f.frozen, dir)
	return nil
}

// Filesystems freeze after the pre-hooks and the pauses, and thaw first,
// in reverse order; Resume (agent restart) thaws them all.
func TestFilesystemsFreezeLastThawFirst(t *testing.T) {
	rt := newRuntime()
	fs := &fakeFS{frozen: map[string]bool{}}
	opts := hookrun.Options{Pause: []string{"db"}, FS: fs,
		Filesystems: []hookrun.Filesystem{{Volume: "data", Dir: "/v/data"}, {Volume: "wal", Dir: "/v/wal"}}}
	f, rs := hookrun.Freeze(t.Context(), rt, pod, []hook.Hook{exec("flush", "db", hook.Fail)}, opts)
	if got, want := outcomes(rs), "flush=Succeeded pause=Held fsfreeze data=Held fsfreeze wal=Held"; got != want {
		t.Fatalf("freeze outcomes %q, want %q", got, want)
	}
	ts := f.Thaw(t.Context(), nil, true)
	if got, want := outcomes(ts), "fsthaw wal=Released fsthaw data=Released resume=Released"; got != want {
		t.Errorf("thaw outcomes %q, want %q", got, want)
	}
	if len(fs.frozen) != 0 || rt.Paused(ref("db")) {
		t.Errorf("left frozen %v, paused %v", fs.frozen, rt.Paused(ref("db")))
	}

	// A refused filesystem fails the pod; the one frozen before is thawed.
	fs = &fakeFS{frozen: map[string]bool{}, refuse: "/v/wal"}
	opts.FS, opts.Pause = fs, nil
	f, rs = hookrun.Freeze(t.Context(), rt, pod, nil, opts)
	if err := rs.Err(); err == nil || !strings.Contains(err.Error(), `freeze the filesystem of volume "wal": not a filesystem of its own`) {
		t.Fatalf("Err() = %v", err)
	}
	f.Thaw(t.Context(), nil, false)
	if len(fs.frozen) != 0 {
		t.Errorf("left frozen after a refused freeze: %v", fs.frozen)
	}

	// After a restart, Resume's Thaw thaws every filesystem the pod lists.
	fs = &fakeFS{frozen: map[string]bool{"/v/data": true}}
	opts.FS = fs
	hookrun.Resume(rt, pod, nil, opts).Thaw(t.Context(), nil, false)
	if len(fs.frozen) != 0 {
		t.Errorf("Resume left frozen: %v", fs.frozen)
	}
}
