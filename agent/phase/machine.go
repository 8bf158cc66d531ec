package phase

import (
	"fmt"
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Phase is a pod's persisted backup phase. The agent records it in its
// node-local journal before acting on it, so that after a restart it knows
// whether it owes the pod a thaw.
type Phase string

const (
	Pending   Phase = "Pending"
	Freezing  Phase = "Freezing"  // pre-hooks running
	Frozen    Phase = "Frozen"    // group member: frozen, waiting for the group's capture gate
	Capturing Phase = "Capturing" // frozen; local capture running
	Captured  Phase = "Captured"  // group member: captured, waiting for its thaw turn
	Thawing   Phase = "Thawing"   // post-hooks running
	Uploading Phase = "Uploading" // thawed; staged copy going to the repository
	Completed Phase = "Completed"
	Failed    Phase = "Failed"
)

// Frozen reports whether a pod recorded in phase p may still be frozen, so a
// restarted agent must thaw it before anything else.
func (p Phase) Frozen() bool {
	return p == Freezing || p == Frozen || p == Capturing || p == Captured || p == Thawing
}

// Final reports whether p is an end state.
func (p Phase) Final() bool { return p == Completed || p == Failed }

// Plan is what the machine needs to know about one pod's backup.
type Plan struct {
	// MaxFreeze bounds the time from the start of the pre-hooks to the start
	// of the post-hooks; past it the capture is cancelled and the pod thawed.
	MaxFreeze time.Duration
	// Staged captures locally and uploads after thaw; otherwise the upload is
	// part of the capture (direct mode) and runs inside the freeze.
	Staged bool
	// Grouped pods belong to a consistency group: frozen, they wait for
	// CaptureGate before capturing; captured, they wait for ThawGate before
	// thawing. The freeze deadline still thaws them, and AbortGate (another
	// member failed) thaws them at once.
	Grouped bool
}

// Event is an input to Step.
type Event interface{ isEvent() }

// Start begins the pod's backup.
type Start struct{ Now time.Time }

// PreHooksDone reports the end of the pre-hook phase. OK is false when a
// hook with onError Fail failed: the capture is skipped, the pod still thawed.
type PreHooksDone struct {
	OK     bool
	Reason string
}

// CaptureDone reports the end of the local capture (or, in direct mode, of
// capture and upload together).
type CaptureDone struct {
	OK     bool
	Reason string
}

// PostHooksDone reports the end of the post-hook phase. A failing post-hook
// fails the pod but changes nothing else: thawing is attempted once.
type PostHooksDone struct {
	OK     bool
	Reason string
}

// UploadDone reports the end of the upload of a staged capture.
type UploadDone struct {
	OK     bool
	Reason string
}

// Tick carries the time; the caller sends one at the freeze deadline.
type Tick struct{ Now time.Time }

// CaptureGate: every member of the pod's group is frozen.
type CaptureGate struct{}

// ThawGate: the pod's turn to thaw has come (the members after it thawed).
type ThawGate struct{}

// AbortGate: thaw without capturing, or never freeze. Cause defaults to
// api.CauseGroupAborted (another member of the group failed); the agent
// stopping while the pod waits for its group sends api.CauseAgentStopped.
type AbortGate struct {
	Cause  api.FailureCause
	Reason string
}

func (Start) isEvent()         {}
func (PreHooksDone) isEvent()  {}
func (CaptureDone) isEvent()   {}
func (PostHooksDone) isEvent() {}
func (UploadDone) isEvent()    {}
func (Tick) isEvent()          {}
func (CaptureGate) isEvent()   {}
func (ThawGate) isEvent()      {}
func (AbortGate) isEvent()     {}

// Action is an output of Step, for the caller to carry out in order.
type Action interface{ isAction() }

// Persist records the phase before the actions that follow it are carried
// out; if persisting fails the caller must not go on.
type Persist struct {
	Phase  Phase
	ThawBy time.Time        // set while the pod may be frozen
	Cause  api.FailureCause // the kind of the first failure, if any
	Reason string           // why the pod failed, if it did
}

// RunPreHooks starts the pre-hook phase; it ends with PreHooksDone.
type RunPreHooks struct{}

// StartCapture starts the capture; it ends with CaptureDone.
type StartCapture struct{}

// CancelCapture cancels a running capture; the caller still sends its
// CaptureDone (which is then ignored).
type CancelCapture struct{}

// RunPostHooks starts the post-hook phase; CaptureOK feeds the hooks' when
// condition (OnSuccess / OnFailure). It ends with PostHooksDone.
type RunPostHooks struct{ CaptureOK bool }

// StartUpload starts the upload of the staged capture; it ends with UploadDone.
type StartUpload struct{}

// WakeAt asks for a Tick at the given time (the freeze deadline).
type WakeAt struct{ At time.Time }

func (Persist) isAction()       {}
func (RunPreHooks) isAction()   {}
func (StartCapture) isAction()  {}
func (CancelCapture) isAction() {}
func (RunPostHooks) isAction()  {}
func (StartUpload) isAction()   {}
func (WakeAt) isAction()        {}

// Machine is one pod's backup state machine.
type Machine struct {
	plan  Plan
	phase Phase
	// Gates may arrive before the phase that waits for them.
	captureGate, thawGate bool
	thawBy                time.Time
	captureOK             bool
	// The first failure, reported in every later Persist.
	cause  api.FailureCause
	reason string
}

// New returns a machine for a pod whose backup has not started.
func New(plan Plan) *Machine { return &Machine{plan: plan, phase: Pending} }

// Resume returns a machine for a pod found in phase p in the journal after a
// restart, and the actions to carry out first. A pod that may be frozen is
// thawed at once and fails (its capture did not complete under this agent);
// a pod that was uploading restarts its upload from the staged copy.
func Resume(plan Plan, p Phase, cause api.FailureCause, reason string) (*Machine, []Action) {
	m := &Machine{plan: plan, phase: p, cause: cause, reason: reason}
	switch {
	case p.Frozen():
		m.fail(api.CauseAgentRestarted, "agent restarted while the pod was frozen")
		m.phase = Thawing
		return m, []Action{Persist{Phase: Thawing, Cause: m.cause, Reason: m.reason}, RunPostHooks{CaptureOK: false}}
	case p == Uploading:
		m.captureOK = true
		return m, []Action{StartUpload{}}
	}
	return m, nil
}

// Phase returns the current phase.
func (m *Machine) Phase() Phase { return m.phase }

// Reason returns the first failure, empty if none.
func (m *Machine) Reason() string { return m.reason }

// Cause returns the kind of the first failure, empty if none.
func (m *Machine) Cause() api.FailureCause { return m.cause }

// Step feeds one event to the machine and returns the actions to carry out.
// Events that do not apply to the current phase are ignored (nil actions):
// late completions after a deadline, duplicate ticks.
func (m *Machine) Step(ev Event) []Action {
	switch ev.(type) {
	case CaptureGate:
		m.captureGate = true
	case ThawGate:
		m.thawGate = true
	case AbortGate:
		if m.phase == Pending || m.phase == Freezing || m.phase == Frozen || m.phase == Captured {
			a := ev.(AbortGate)
			cause := a.Cause
			if cause == "" {
				cause = api.CauseGroupAborted
			}
			m.fail(cause, orDefault(a.Reason, "another member of the consistency group failed"))
		}
	}
	switch m.phase {
	case Pending:
		return m.stepPending(ev)
	case Freezing:
		return m.stepFreezing(ev)
	case Frozen:
		return m.stepFrozen(ev)
	case Capturing:
		return m.stepCapturing(ev)
	case Captured:
		return m.stepCaptured(ev)
	case Thawing:
		return m.stepThawing(ev)
	case Uploading:
		return m.stepUploading(ev)
	}
	return nil
}

func (m *Machine) stepPending(ev Event) []Action {
	s, ok := ev.(Start)
	if !ok {
		return nil
	}
	if m.reason != "" { // the group failed before this pod's turn: never freeze it
		return m.finish()
	}
	m.thawBy = s.Now.Add(m.plan.MaxFreeze)
	m.phase = Freezing
	// Record before acting: once RunPreHooks is out, the journal must
	// already say the pod may be frozen.
	return []Action{Persist{Phase: Freezing, ThawBy: m.thawBy}, WakeAt{At: m.thawBy}, RunPreHooks{}}
}

func (m *Machine) stepFreezing(ev Event) []Action {
	switch e := ev.(type) {
	case PreHooksDone:
		if !e.OK {
			m.fail(api.CausePreHook, orDefault(e.Reason, "pre-hook failed"))
		}
		if m.reason != "" { // a failing pre-hook, or the deadline passed meanwhile
			return m.thaw(false)
		}
		return m.capture()
	case Tick:
		// Pre-hooks still running at the deadline: the hook runner enforces
		// each hook's own timeout, so this only fires if MaxFreeze is shorter
		// than the hooks. Thaw after they return, never concurrently.
		if !e.Now.Before(m.thawBy) {
			m.fail(api.CauseFreezeDeadline, fmt.Sprintf("freeze deadline %s passed during pre-hooks", m.plan.MaxFreeze))
		}
	}
	return nil
}

func (m *Machine) stepCapturing(ev Event) []Action {
	switch e := ev.(type) {
	case CaptureDone:
		if !e.OK {
			m.fail(api.CauseCapture, orDefault(e.Reason, "capture failed"))
			return m.thaw(false)
		}
		if m.plan.Grouped && !m.thawGate {
			m.phase = Captured
			return []Action{Persist{Phase: Captured, ThawBy: m.thawBy}}
		}
		return m.thaw(true)
	case Tick:
		if e.Now.Before(m.thawBy) {
			return nil
		}
		m.fail(api.CauseFreezeDeadline, fmt.Sprintf("freeze deadline %s passed before the capture finished", m.plan.MaxFreeze))
		return append([]Action{CancelCapture{}}, m.thaw(false)...)
	}
	return nil
}

// capture starts the capture, or for a group member waits for the gate.
func (m *Machine) capture() []Action {
	if m.plan.Grouped && !m.captureGate {
		m.phase = Frozen
		return []Action{Persist{Phase: Frozen, ThawBy: m.thawBy}}
	}
	m.phase = Capturing
	return []Action{Persist{Phase: Capturing, ThawBy: m.thawBy}, StartCapture{}}
}

func (m *Machine) stepFrozen(ev Event) []Action {
	switch e := ev.(type) {
	case CaptureGate:
		return m.capture()
	case AbortGate:
		return m.thaw(false)
	case Tick:
		if !e.Now.Before(m.thawBy) {
			m.fail(api.CauseFreezeDeadline, fmt.Sprintf("freeze deadline %s passed while the group was freezing", m.plan.MaxFreeze))
			return m.thaw(false)
		}
	}
	return nil
}

func (m *Machine) stepCaptured(ev Event) []Action {
	switch e := ev.(type) {
	case ThawGate, AbortGate:
		return m.thaw(m.reason == "")
	case Tick:
		if !e.Now.Before(m.thawBy) {
			m.fail(api.CauseFreezeDeadline, fmt.Sprintf("freeze deadline %s passed while the group was being captured", m.plan.MaxFreeze))
			return m.thaw(false)
		}
	}
	return nil
}

func (m *Machine) stepThawing(ev Event) []Action {
	e, ok := ev.(PostHooksDone)
	if !ok {
		return nil
	}
	if !e.OK {
		m.fail(api.CausePostHook, orDefault(e.Reason, "post-hook failed"))
	}
	if m.plan.Staged && m.captureOK {
		m.phase = Uploading
		return []Action{Persist{Phase: Uploading, Cause: m.cause, Reason: m.reason}, StartUpload{}}
	}
	return m.finish()
}

func (m *Machine) stepUploading(ev Event) []Action {
	e, ok := ev.(UploadDone)
	if !ok {
		return nil
	}
	if !e.OK {
		m.fail(api.CauseUpload, orDefault(e.Reason, "upload failed"))
	}
	return m.finish()
}

func (m *Machine) thaw(captureOK bool) []Action {
	m.captureOK = captureOK
	m.phase = Thawing
	return []Action{Persist{Phase: Thawing, Cause: m.cause, Reason: m.reason}, RunPostHooks{CaptureOK: captureOK}}
}

func (m *Machine) finish() []Action {
	m.phase = Completed
	if m.reason != "" {
		m.phase = Failed
	}
	return []Action{Persist{Phase: m.phase, Cause: m.cause, Reason: m.reason}}
}

// fail records the first failure; later ones are consequences of it.
func (m *Machine) fail(cause api.FailureCause, reason string) {
	if m.reason == "" {
		m.cause, m.reason = cause, reason
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
