package phase

import (
	"reflect"
	"testing"
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestMachinePaths(t *testing.T) {
	staged := Plan{MaxFreeze: time.Minute, Staged: true}
	direct := Plan{MaxFreeze: time.Minute}
	thawBy := t0.Add(time.Minute)
	tests := []struct {
		name       string
		plan       Plan
		events     []Event
		wantPhase  Phase
		wantReason string
		wantLast   []Action // actions of the last event
	}{
		{
			name:      "staged happy path uploads after thaw",
			plan:      staged,
			events:    []Event{Start{Now: t0}, PreHooksDone{OK: true}, CaptureDone{OK: true}, PostHooksDone{OK: true}, UploadDone{OK: true}},
			wantPhase: Completed,
			wantLast:  []Action{Persist{Phase: Completed}},
		},
		{
			name:      "thaw waits for the capture",
			plan:      staged,
			events:    []Event{Start{Now: t0}, PreHooksDone{OK: true}, CaptureDone{OK: true}},
			wantPhase: Thawing,
			wantLast:  []Action{Persist{Phase: Thawing}, RunPostHooks{CaptureOK: true}},
		},
		{
			name:      "direct mode has no upload step",
			plan:      direct,
			events:    []Event{Start{Now: t0}, PreHooksDone{OK: true}, CaptureDone{OK: true}, PostHooksDone{OK: true}},
			wantPhase: Completed,
			wantLast:  []Action{Persist{Phase: Completed}},
		},
		{
			name:       "pre-hook fails: capture skipped, pod still thawed",
			plan:       staged,
			events:     []Event{Start{Now: t0}, PreHooksDone{OK: false, Reason: "hook pg-freeze exited 1"}},
			wantPhase:  Thawing,
			wantReason: "hook pg-freeze exited 1",
			wantLast:   []Action{Persist{Phase: Thawing, Cause: api.CausePreHook, Reason: "hook pg-freeze exited 1"}, RunPostHooks{CaptureOK: false}},
		},
		{
			name:       "capture fails: thaw, no upload, failed",
			plan:       staged,
			events:     []Event{Start{Now: t0}, PreHooksDone{OK: true}, CaptureDone{OK: false, Reason: "disk full"}, PostHooksDone{OK: true}},
			wantPhase:  Failed,
			wantReason: "disk full",
			wantLast:   []Action{Persist{Phase: Failed, Cause: api.CauseCapture, Reason: "disk full"}},
		},
		{
			name:       "deadline during capture cancels it and thaws",
			plan:       staged,
			events:     []Event{Start{Now: t0}, PreHooksDone{OK: true}, Tick{Now: thawBy}},
			wantPhase:  Thawing,
			wantReason: "freeze deadline 1m0s passed before the capture finished",
			wantLast: []Action{CancelCapture{}, Persist{Phase: Thawing, Cause: api.CauseFreezeDeadline, Reason: "freeze deadline 1m0s passed before the capture finished"},
				RunPostHooks{CaptureOK: false}},
		},
		{
			name:      "early tick changes nothing",
			plan:      staged,
			events:    []Event{Start{Now: t0}, PreHooksDone{OK: true}, Tick{Now: thawBy.Add(-time.Second)}},
			wantPhase: Capturing,
			wantLast:  nil,
		},
		{
			name:       "capture finishing after the deadline is ignored",
			plan:       staged,
			events:     []Event{Start{Now: t0}, PreHooksDone{OK: true}, Tick{Now: thawBy}, CaptureDone{OK: true}},
			wantPhase:  Thawing,
			wantReason: "freeze deadline 1m0s passed before the capture finished",
			wantLast:   nil,
		},
		{
			name:       "deadline during pre-hooks skips the capture",
			plan:       staged,
			events:     []Event{Start{Now: t0}, Tick{Now: thawBy}, PreHooksDone{OK: true}},
			wantPhase:  Thawing,
			wantReason: "freeze deadline 1m0s passed during pre-hooks",
			wantLast:   []Action{Persist{Phase: Thawing, Cause: api.CauseFreezeDeadline, Reason: "freeze deadline 1m0s passed during pre-hooks"}, RunPostHooks{CaptureOK: false}},
		},
		{
			name:       "post-hook failure fails the pod but the upload still runs",
			plan:       staged,
			events:     []Event{Start{Now: t0}, PreHooksDone{OK: true}, CaptureDone{OK: true}, PostHooksDone{OK: false, Reason: "thaw exited 2"}},
			wantPhase:  Uploading,
			wantReason: "thaw exited 2",
			wantLast:   []Action{Persist{Phase: Uploading, Cause: api.CausePostHook, Reason: "thaw exited 2"}, StartUpload{}},
		},
		{
			name:       "upload fails",
			plan:       staged,
			events:     []Event{Start{Now: t0}, PreHooksDone{OK: true}, CaptureDone{OK: true}, PostHooksDone{OK: true}, UploadDone{OK: false, Reason: "repository unreachable"}},
			wantPhase:  Failed,
			wantReason: "repository unreachable",
			wantLast:   []Action{Persist{Phase: Failed, Cause: api.CauseUpload, Reason: "repository unreachable"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(tc.plan)
			var last []Action
			for _, ev := range tc.events {
				last = m.Step(ev)
			}
			if m.Phase() != tc.wantPhase {
				t.Errorf("phase = %s, want %s", m.Phase(), tc.wantPhase)
			}
			if m.Reason() != tc.wantReason {
				t.Errorf("reason = %q, want %q", m.Reason(), tc.wantReason)
			}
			if !reflect.DeepEqual(last, tc.wantLast) {
				t.Errorf("last actions = %#v, want %#v", last, tc.wantLast)
			}
		})
	}
}

func TestGroupGates(t *testing.T) {
	grouped := Plan{MaxFreeze: time.Minute, Staged: true, Grouped: true}
	thawBy := t0.Add(time.Minute)
	tests := []struct {
		name       string
		events     []Event
		wantPhase  Phase
		wantReason string
		wantLast   []Action
	}{
		{name: "frozen member waits for the capture gate",
			events:    []Event{Start{Now: t0}, PreHooksDone{OK: true}},
			wantPhase: Frozen, wantLast: []Action{Persist{Phase: Frozen, ThawBy: thawBy}}},
		{name: "capture gate starts the capture",
			events:    []Event{Start{Now: t0}, PreHooksDone{OK: true}, CaptureGate{}},
			wantPhase: Capturing, wantLast: []Action{Persist{Phase: Capturing, ThawBy: thawBy}, StartCapture{}}},
		{name: "a gate that came early is remembered",
			events:    []Event{Start{Now: t0}, CaptureGate{}, PreHooksDone{OK: true}},
			wantPhase: Capturing, wantLast: []Action{Persist{Phase: Capturing, ThawBy: thawBy}, StartCapture{}}},
		{name: "captured member waits for its thaw turn",
			events:    []Event{Start{Now: t0}, PreHooksDone{OK: true}, CaptureGate{}, CaptureDone{OK: true}},
			wantPhase: Captured, wantLast: []Action{Persist{Phase: Captured, ThawBy: thawBy}}},
		{name: "thaw gate thaws",
			events:    []Event{Start{Now: t0}, PreHooksDone{OK: true}, CaptureGate{}, CaptureDone{OK: true}, ThawGate{}},
			wantPhase: Thawing, wantLast: []Action{Persist{Phase: Thawing}, RunPostHooks{CaptureOK: true}}},
		{name: "deadline while waiting for the group thaws",
			events:     []Event{Start{Now: t0}, PreHooksDone{OK: true}, Tick{Now: thawBy}},
			wantPhase:  Thawing,
			wantReason: "freeze deadline 1m0s passed while the group was freezing",
			wantLast:   []Action{Persist{Phase: Thawing, Cause: api.CauseFreezeDeadline, Reason: "freeze deadline 1m0s passed while the group was freezing"}, RunPostHooks{}}},
		{name: "abort thaws a frozen member without capture",
			events:    []Event{Start{Now: t0}, PreHooksDone{OK: true}, AbortGate{Cause: api.CauseGroupAborted, Reason: "pod shop/db-1 failed"}},
			wantPhase: Thawing, wantReason: "pod shop/db-1 failed",
			wantLast: []Action{Persist{Phase: Thawing, Cause: api.CauseGroupAborted, Reason: "pod shop/db-1 failed"}, RunPostHooks{}}},
		{name: "abort before start never freezes",
			events:    []Event{AbortGate{Reason: "group failed"}, Start{Now: t0}},
			wantPhase: Failed, wantReason: "group failed",
			wantLast: []Action{Persist{Phase: Failed, Cause: api.CauseGroupAborted, Reason: "group failed"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(grouped)
			var last []Action
			for _, ev := range tc.events {
				last = m.Step(ev)
			}
			if m.Phase() != tc.wantPhase || m.Reason() != tc.wantReason {
				t.Errorf("phase %s reason %q, want %s %q", m.Phase(), m.Reason(), tc.wantPhase, tc.wantReason)
			}
			if !reflect.DeepEqual(last, tc.wantLast) {
				t.Errorf("last actions = %#v, want %#v", last, tc.wantLast)
			}
		})
	}
}

func TestStartRecordsBeforeFreezing(t *testing.T) {
	acts := New(Plan{MaxFreeze: time.Minute}).Step(Start{Now: t0})
	want := []Action{Persist{Phase: Freezing, ThawBy: t0.Add(time.Minute)}, WakeAt{At: t0.Add(time.Minute)}, RunPreHooks{}}
	if !reflect.DeepEqual(acts, want) {
		t.Fatalf("Start = %#v, want %#v", acts, want)
	}
}

func TestResume(t *testing.T) {
	plan := Plan{MaxFreeze: time.Minute, Staged: true}
	for _, p := range []Phase{Freezing, Capturing, Thawing} {
		m, acts := Resume(plan, p, "", "")
		want := []Action{Persist{Phase: Thawing, Cause: api.CauseAgentRestarted, Reason: "agent restarted while the pod was frozen"}, RunPostHooks{CaptureOK: false}}
		if !reflect.DeepEqual(acts, want) {
			t.Errorf("Resume(%s) = %#v, want %#v", p, acts, want)
		}
		if got := m.Step(PostHooksDone{OK: true}); !reflect.DeepEqual(got, []Action{Persist{Phase: Failed, Cause: api.CauseAgentRestarted, Reason: "agent restarted while the pod was frozen"}}) {
			t.Errorf("Resume(%s) then thaw = %#v", p, got)
		}
	}
	if _, acts := Resume(plan, Uploading, "", ""); !reflect.DeepEqual(acts, []Action{StartUpload{}}) {
		t.Errorf("Resume(Uploading) = %#v, want StartUpload", acts)
	}
	for _, p := range []Phase{Pending, Completed, Failed} {
		if _, acts := Resume(plan, p, "", ""); acts != nil {
			t.Errorf("Resume(%s) = %#v, want nothing", p, acts)
		}
	}
}

// FuzzThawGuarantee drives the machine with arbitrary event sequences, the
// way a faithful caller would (only reporting the completion of work it was
// asked to start), and checks the agent's invariant: once RunPreHooks is
// emitted, RunPostHooks is emitted exactly once, never while a capture is
// still running un-cancelled, and a pod that reaches a final phase was thawed.
func FuzzThawGuarantee(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4}, true, false)
	f.Add([]byte{0, 5, 5, 1, 2, 3}, false, false)
	f.Add([]byte{0, 1, 5, 2, 3, 4}, true, false)
	f.Add([]byte{0, 1, 6, 2, 7, 3, 4}, true, true)
	f.Add([]byte{0, 8, 1, 6, 2, 3}, true, true)
	f.Fuzz(func(t *testing.T, script []byte, staged, grouped bool) {
		m := New(Plan{MaxFreeze: 10 * time.Second, Staged: staged, Grouped: grouped})
		now := t0
		var (
			started, preRunning, capRunning, postRunning, upRunning bool
			pre, post                                               int
		)
		apply := func(acts []Action) {
			for _, a := range acts {
				switch a := a.(type) {
				case RunPreHooks:
					pre++
					preRunning = true
				case StartCapture:
					capRunning = true
				case CancelCapture:
					capRunning = false
				case RunPostHooks:
					post++
					if capRunning {
						t.Fatalf("post-hooks started while the capture runs")
					}
					if a.CaptureOK && m.Reason() != "" {
						t.Fatalf("post-hooks told capture OK on a failed pod: %s", m.Reason())
					}
					postRunning = true
				case StartUpload:
					upRunning = true
				}
			}
		}
		for _, b := range script {
			var ev Event
			ok := b&0x80 == 0
			switch b % 9 {
			case 0:
				if started {
					continue
				}
				started = true
				ev = Start{Now: now}
			case 1:
				if !preRunning {
					continue
				}
				preRunning = false
				ev = PreHooksDone{OK: ok}
			case 2:
				if !capRunning {
					continue
				}
				capRunning = false
				ev = CaptureDone{OK: ok}
			case 3:
				if !postRunning {
					continue
				}
				postRunning = false
				ev = PostHooksDone{OK: ok}
			case 4:
				if !upRunning {
					continue
				}
				upRunning = false
				ev = UploadDone{OK: ok}
			case 5:
				now = now.Add(6 * time.Second)
				ev = Tick{Now: now}
			case 6:
				ev = CaptureGate{}
			case 7:
				ev = ThawGate{}
			case 8:
				ev = AbortGate{}
			}
			apply(m.Step(ev))
		}
		if post > 1 || pre > 1 {
			t.Fatalf("pre-hooks ran %d times, post-hooks %d times", pre, post)
		}
		if m.Phase().Final() && pre == 1 && post != 1 {
			t.Fatalf("pod reached %s without a thaw", m.Phase())
		}
		// Drain: finish whatever is running; a frozen pod must then thaw.
		for i := 0; i < 8 && !m.Phase().Final(); i++ {
			switch {
			case preRunning:
				preRunning = false
				apply(m.Step(PreHooksDone{OK: true}))
			case capRunning:
				capRunning = false
				apply(m.Step(CaptureDone{OK: true}))
			case postRunning:
				postRunning = false
				apply(m.Step(PostHooksDone{OK: true}))
			case upRunning:
				upRunning = false
				apply(m.Step(UploadDone{OK: true}))
			case !started:
				started = true
				apply(m.Step(Start{Now: now}))
			default:
				// Waiting on the group: the deadline always comes.
				now = now.Add(10 * time.Second)
				apply(m.Step(Tick{Now: now}))
			}
		}
		if !m.Phase().Final() {
			t.Fatalf("machine stuck in %s", m.Phase())
		}
		if pre != post {
			t.Fatalf("after drain: pre-hooks %d, post-hooks %d: every freeze needs exactly one thaw", pre, post)
		}
		// A failure always carries its kind: Events and metrics read it.
		if (m.Phase() == Failed) != (m.Cause() != "") || (m.Cause() == "") != (m.Reason() == "") {
			t.Fatalf("final %s with cause %q, reason %q: a failed pod needs both", m.Phase(), m.Cause(), m.Reason())
		}
	})
}
