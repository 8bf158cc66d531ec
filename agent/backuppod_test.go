package agent

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/agent/phase"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// trace records the order of what the fakes were asked to do.
type trace struct {
	mu  sync.Mutex
	log []string
}

func (t *trace) add(s string) { t.mu.Lock(); t.log = append(t.log, s); t.mu.Unlock() }
func (t *trace) get() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.log)
}

type fakeHooks struct {
	tr       *trace
	preOK    bool
	preDelay time.Duration
}

func (f *fakeHooks) Freeze(ctx context.Context, _ string, pod *api.PodAssignment) (Thaw, []api.HookResult, bool) {
	f.tr.add("freeze")
	if f.preDelay > 0 {
		time.Sleep(f.preDelay) // fake time inside synctest
	}
	res := []api.HookResult{{Name: "pre", Phase: "pre", Duration: metav1.Duration{Duration: f.preDelay}}}
	if !f.preOK {
		res[0].ExitCode = 1
	}
	return func(ctx context.Context, captureOK bool) ([]api.HookResult, bool) {
		if ctx.Err() != nil {
			f.tr.add("thaw-with-cancelled-ctx")
		}
		if captureOK {
			f.tr.add("thaw(captured)")
		} else {
			f.tr.add("thaw(not captured)")
		}
		return []api.HookResult{{Name: "post", Phase: "post"}}, true
	}, res, f.preOK
}

func (f *fakeHooks) ThawOnly(ctx context.Context, _ string, _ *api.PodAssignment) ([]api.HookResult, bool) {
	f.tr.add("thaw-only")
	return []api.HookResult{{Name: "post", Phase: "post"}}, true
}

type fakeVolumes struct {
	tr           *trace
	captureDelay time.Duration
	captureErr   error
	uploadErr    error
}

func (f *fakeVolumes) Capture(ctx context.Context, _ BackupRef, pod *api.PodAssignment, staged bool) ([]api.VolumeResult, error) {
	f.tr.add("capture")
	select {
	case <-time.After(f.captureDelay):
	case <-ctx.Done():
		f.tr.add("capture-cancelled")
		return nil, ctx.Err()
	}
	f.tr.add("captured")
	return []api.VolumeResult{{Name: "data", Files: 3, Bytes: 300}}, f.captureErr
}

func (f *fakeVolumes) Upload(ctx context.Context, _ BackupRef, pod *api.PodAssignment, captured []api.VolumeResult) ([]api.VolumeResult, error) {
	f.tr.add("upload")
	out := slices.Clone(captured)
	for i := range out {
		out[i].SnapshotID = "snap-1"
	}
	return out, f.uploadErr
}

func newRun(t *testing.T, h Hooks, v Volumes, maxFreeze time.Duration) (*backupPod, *[]api.PodResult, *journal.Journal) {
	j, err := journal.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var reports []api.PodResult
	var mu sync.Mutex
	return &backupPod{
		backup: "b1", nodeBackup: "b1-node-a",
		pod:   &api.PodAssignment{Namespace: "shop", Name: "db-0", UID: "u1", Volumes: []api.VolumeAssignment{{Name: "data", Source: "shop/pod/db-0/data"}}},
		plan:  phase.Plan{MaxFreeze: maxFreeze, Staged: true},
		hooks: h, vols: v, journal: j, slot: captureSlot{slots: make(chan struct{}, 1)},
		report: func(p api.PodResult) { mu.Lock(); reports = append(reports, p); mu.Unlock() },
		log:    zaptest.NewLogger(t), now: time.Now,
	}, &reports, j
}

func TestPodRunStagedOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		r, reports, j := newRun(t, &fakeHooks{tr: tr, preOK: true, preDelay: 100 * time.Millisecond}, &fakeVolumes{tr: tr, captureDelay: 2 * time.Second}, time.Minute)
		res := r.run(t.Context(), nil)
		if res.Phase != api.PodCompleted {
			t.Fatalf("phase = %s (%s)", res.Phase, res.Reason)
		}
		// The thaw comes after the capture and before the upload.
		want := []string{"freeze", "capture", "captured", "thaw(captured)", "upload"}
		if got := tr.get(); !slices.Equal(got, want) {
			t.Fatalf("order = %v, want %v", got, want)
		}
		if res.Freeze == nil || res.Freeze.Duration != 2100*time.Millisecond {
			t.Errorf("freeze window = %v, want 2.1s (pre-hook + capture)", res.Freeze)
		}
		if res.ControlOverhead == nil || res.ControlOverhead.Duration != 0 {
			t.Errorf("control overhead = %v, want 0 under fake time", res.ControlOverhead)
		}
		if len(res.Volumes) != 1 || res.Volumes[0].SnapshotID != "snap-1" || len(res.Hooks) != 2 {
			t.Errorf("result = %+v", res)
		}
		var phases []api.PodPhase
		for _, p := range *reports {
			phases = append(phases, p.Phase)
		}
		if want := []api.PodPhase{api.PodFreezing, api.PodCapturing, api.PodThawing, api.PodUploading, api.PodCompleted}; !slices.Equal(phases, want) {
			t.Errorf("reported phases = %v, want %v", phases, want)
		}
		rec, ok, _ := j.Get("b1", "u1")
		if !ok || rec.Phase != phase.Completed {
			t.Errorf("journal = %+v", rec)
		}
	})
}

func TestPodRunDeadlineThawsBeforeCaptureEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		r, _, _ := newRun(t, &fakeHooks{tr: tr, preOK: true}, &fakeVolumes{tr: tr, captureDelay: time.Hour}, 30*time.Second)
		start := time.Now()
		res := r.run(t.Context(), nil)
		if res.Phase != api.PodFailed || res.Reason != "freeze deadline 30s passed before the capture finished" {
			t.Fatalf("result = %s %q", res.Phase, res.Reason)
		}
		if d := time.Since(start); d != 30*time.Second {
			t.Errorf("thawed after %v, want at the 30s deadline", d)
		}
		got := tr.get()
		if !slices.Contains(got, "thaw(not captured)") || slices.Contains(got, "upload") || slices.Contains(got, "captured") {
			t.Errorf("order = %v: want thaw without capture and no upload", got)
		}
	})
}

func TestPodRunPreHookFailSkipsCaptureButThaws(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		r, _, _ := newRun(t, &fakeHooks{tr: tr, preOK: false}, &fakeVolumes{tr: tr}, time.Minute)
		res := r.run(t.Context(), nil)
		if res.Phase != api.PodFailed || res.Reason != "pre-hook pre in container  exited 1" {
			t.Fatalf("result = %s %q", res.Phase, res.Reason)
		}
		if got := tr.get(); !slices.Equal(got, []string{"freeze", "thaw(not captured)"}) {
			t.Errorf("order = %v", got)
		}
		// The report names the volume the backup holds no data of.
		if len(res.Volumes) != 1 || res.Volumes[0].Name != "data" || res.Volumes[0].SnapshotID != "" ||
			res.Volumes[0].Error != "not backed up: the pod's backup failed" {
			t.Errorf("volumes = %+v, want data not backed up", res.Volumes)
		}
	})
}

func TestPodRunCancelledStillThaws(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		r, _, _ := newRun(t, &fakeHooks{tr: tr, preOK: true}, &fakeVolumes{tr: tr, captureDelay: time.Hour}, time.Hour)
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(5*time.Second, cancel) // the agent is shutting down mid-capture
		res := r.run(ctx, nil)
		got := tr.get()
		if !slices.Contains(got, "thaw(not captured)") || slices.Contains(got, "thaw-with-cancelled-ctx") {
			t.Fatalf("order = %v: the thaw must run, on a live context", got)
		}
		if res.Phase != api.PodFailed {
			t.Errorf("phase = %s", res.Phase)
		}
	})
}

func TestPodRunResumeThawsFrozenPod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		r, _, _ := newRun(t, &fakeHooks{tr: tr}, &fakeVolumes{tr: tr}, time.Minute)
		res := r.run(t.Context(), &journal.Record{Backup: "b1", PodUID: "u1", Phase: phase.Capturing})
		if got := tr.get(); !slices.Equal(got, []string{"thaw-only"}) {
			t.Fatalf("order = %v, want only the thaw", got)
		}
		if res.Phase != api.PodFailed || res.Reason != "agent restarted while the pod was frozen" {
			t.Errorf("result = %s %q", res.Phase, res.Reason)
		}
	})
}

func TestPodRunResumeUpload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		r, _, _ := newRun(t, &fakeHooks{tr: tr}, &fakeVolumes{tr: tr}, time.Minute)
		res := r.run(t.Context(), &journal.Record{Backup: "b1", PodUID: "u1", Phase: phase.Uploading,
			Captured: []api.VolumeResult{{Name: "data", Files: 1}}})
		if got := tr.get(); !slices.Equal(got, []string{"upload"}) || res.Phase != api.PodCompleted || res.Volumes[0].SnapshotID != "snap-1" {
			t.Fatalf("order = %v result = %+v", got, res)
		}
	})
}

func TestPodRunUnwritableJournalDoesNotFreeze(t *testing.T) {
	tr := &trace{}
	r, _, _ := newRun(t, &fakeHooks{tr: tr, preOK: true}, &fakeVolumes{tr: tr}, time.Minute)
	bad, _ := journal.Open(t.TempDir())
	r.journal = bad
	r.backup = "bad/name" // rejected by the journal
	res := r.run(t.Context(), nil)
	if res.Phase != api.PodFailed || len(tr.get()) != 0 {
		t.Fatalf("result %s %q, calls %v: nothing may run when the freeze cannot be recorded", res.Phase, res.Reason, tr.get())
	}
}

// A held pre-hook's release replaces its held record: one entry per hook.
func TestSettleHeldReplacesTheHeldRecord(t *testing.T) {
	pre := []api.HookResult{
		{Name: "hold", Phase: "pre", Container: "db", Held: true, ExitCode: -1},
		{Name: "sync", Phase: "pre", Container: "db"},
		{Name: "pause-app", Phase: "pre", Container: "app", Held: true},
	}
	thaw := []api.HookResult{
		{Name: "hold", Phase: "pre", Container: "db", ExitCode: 1, Error: "after release: exit code 1"},
		{Name: "resume-app", Phase: "post", Container: "app"},
		{Name: "notify", Phase: "post", Container: "db"},
	}
	got := settleHeld(pre, thaw)
	want := []api.HookResult{thaw[0], pre[1], pre[2], thaw[1], thaw[2]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settleHeld:\n got  %+v\n want %+v", got, want)
	}
	if !pre[0].Held {
		t.Error("settleHeld changed its input")
	}
}

// The final result is in the journal before it is reported: the agent
// deletes the record once the status shows the pod final, so a record
// written after the report would outlive that deletion.
func TestFinalRecordPrecedesTheFinalReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &trace{}
		r, _, j := newRun(t, &fakeHooks{tr: tr, preOK: true}, &fakeVolumes{tr: tr}, time.Minute)
		r.node = "node-a"
		var atFinal *journal.Record
		r.report = func(p api.PodResult) {
			if p.Phase == api.PodCompleted || p.Phase == api.PodFailed {
				rec, ok, _ := j.Get("b1", "u1")
				if ok {
					atFinal = &rec
				}
			}
		}
		r.run(t.Context(), nil)
		if atFinal == nil || atFinal.Result == nil || atFinal.Result.Phase != api.PodCompleted || atFinal.Result.Node != "node-a" {
			t.Fatalf("journal when the final result was reported: %+v; want the final result, on node-a", atFinal)
		}
	})
}
