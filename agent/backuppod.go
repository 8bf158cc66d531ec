package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/agent/phase"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/metrics"
)

// backupPod is the executor of one pod's backup, the pair of restorePod.
// The phase machine (agent/phase) decides; backupPod carries out each
// phase.Action with the journal, the hook runner and the volume engine, one
// method per action, and feeds the outcomes back to the machine as events
// until the pod is final. Read top to bottom, this file is the freeze
// window: persist, pre-hooks, capture, post-hooks, then the upload.
type backupPod struct {
	node, backup, nodeBackup string
	expires                  time.Time
	pod                      *api.PodAssignment
	plan                     phase.Plan
	hooks                    Hooks
	vols                     Volumes
	journal                  *journal.Journal
	slot                     captureSlot
	pacer                    *UploadPacer        // nil: uploads unpaced
	turn                     *groupTurn          // nil outside consistency groups
	report                   func(api.PodResult) // must not block
	log                      *zap.Logger
	metrics                  *metrics.Agent // may be nil
	now                      func() time.Time

	// State, owned by the goroutine running run.
	m             *phase.Machine
	res           api.PodResult
	thaw          Thaw
	captured      []api.VolumeResult
	cancelCapture context.CancelFunc
	clock         freezeClock
	pacing        bool // counted as frozen by the pacer
	deadline      *time.Timer
	// outcomes carries what the operations started by the actions report;
	// each operation sends exactly one, whatever happens to ctx.
	outcomes chan outcome
}

// outcome is an operation's report: apply runs on the run goroutine (where
// all state lives), then ev is stepped.
type outcome struct {
	ev    phase.Event
	apply func()
}

// run takes the pod from Pending (or, with resume, from the journalled
// phase) to a final phase and returns its result.
func (p *backupPod) run(ctx context.Context, resume *journal.Record) api.PodResult {
	p.log = p.log.With(zap.String("backup", p.backup), zap.String("namespace", p.pod.Namespace),
		zap.String("pod", p.pod.Name), zap.String("podUID", p.pod.UID))
	p.res = api.PodResult{Namespace: p.pod.Namespace, Name: p.pod.Name, UID: p.pod.UID, Phase: api.PodPending}
	p.outcomes = make(chan outcome, 8) // one per started operation at most
	p.cancelCapture = func() {}
	defer p.slot.release()
	defer p.leaveFreeze()
	defer func() {
		if p.deadline != nil {
			p.deadline.Stop()
		}
	}()

	acts, ok := p.begin(ctx, resume)
	if !ok {
		return p.res
	}
	// A member waiting on its group thaws when the agent stops; a pod
	// outside a group goes on to its thaw by itself.
	var stopping <-chan struct{}
	if p.turn != nil {
		stopping = ctx.Done()
	}
	for {
		for _, a := range acts {
			if !p.execute(ctx, a) {
				return p.res
			}
		}
		if p.m.Phase().Final() {
			return p.res
		}
		select {
		case o := <-p.outcomes:
			if o.apply != nil {
				o.apply()
			}
			acts = p.m.Step(o.ev)
		case g := <-p.turn.gates():
			acts = p.stepAll(g.events())
		case <-stopping:
			stopping = nil
			acts = p.m.Step(phase.AbortGate{Cause: api.CauseAgentStopped, Reason: "agent stopped while the pod waited for its consistency group"})
		}
	}
}

// begin makes the machine and its first actions: from the journal after a
// restart; for a group member once its turn to freeze comes; otherwise once
// a capture slot is free (so a pod is never frozen waiting for a slot).
// Group members take no slot: they must all be frozen at once.
func (p *backupPod) begin(ctx context.Context, resume *journal.Record) ([]phase.Action, bool) {
	switch {
	case resume != nil:
		p.captured = resume.Captured
		if resume.Phase.Frozen() {
			p.log.Warn("pod found frozen by an earlier agent process: thawing it first", zap.String("phase", string(resume.Phase)))
		}
		var acts []phase.Action
		p.m, acts = phase.Resume(p.plan, resume.Phase, resume.Cause, resume.Reason)
		return acts, true
	case p.turn != nil:
		// Pending, reported: the coordinator opens the group's gate only
		// once every member's agent has said it holds the work.
		p.report(p.res)
		t := p.turn.wait(ctx)
		if t.abort {
			p.finishEarly(t.cause, t.abortMessage)
			return nil, false
		}
		p.m = phase.New(p.plan)
		return append(p.m.Step(phase.Start{Now: p.now()}), p.stepAll(t.events)...), true
	default:
		if !p.slot.take(ctx) {
			p.finishEarly(api.CauseAgentStopped, "agent stopped before the pod's turn came")
			return nil, false
		}
		p.m = phase.New(p.plan)
		return p.m.Step(phase.Start{Now: p.now()}), true
	}
}

func (p *backupPod) stepAll(evs []phase.Event) []phase.Action {
	var acts []phase.Action
	for _, ev := range evs {
		acts = append(acts, p.m.Step(ev)...)
	}
	return acts
}

// execute carries out one action; false means stop now (nothing is frozen).
func (p *backupPod) execute(ctx context.Context, a phase.Action) bool {
	switch a := a.(type) {
	case phase.Persist:
		return p.persist(a)
	case phase.WakeAt:
		p.wakeAt(a.At)
	case phase.RunPreHooks:
		p.runPreHooks(ctx)
	case phase.StartCapture:
		p.startCapture(ctx)
	case phase.CancelCapture:
		p.stopCapture()
	case phase.RunPostHooks:
		p.runPostHooks(ctx, a.CaptureOK)
	case phase.StartUpload:
		p.startUpload(ctx)
	default:
		panic(fmt.Sprintf("backupPod: unhandled action %T", a)) // a new action needs its method here
	}
	return true
}

// persist records the phase in the node journal before the actions that
// follow it run, then reports it (a final phase through finish). If the journal cannot record Freezing the
// pod is not frozen at all; later write failures are logged and the run
// goes on, so that a frozen pod is still thawed.
func (p *backupPod) persist(a phase.Persist) bool {
	p.res.Phase, p.res.Cause, p.res.Reason = api.PodPhase(a.Phase), a.Cause, a.Reason
	p.log.Info("pod phase", zap.String("phase", string(a.Phase)), zap.String("cause", string(a.Cause)), zap.String("reason", a.Reason))
	if a.Phase.Final() {
		p.finish() // journals the final record, result included: one write
		return true
	}
	rec := journal.Record{Backup: p.backup, NodeBackup: p.nodeBackup, Namespace: p.pod.Namespace, Pod: p.pod.Name,
		PodUID: p.pod.UID, Phase: a.Phase, ThawBy: a.ThawBy, Cause: a.Cause, Reason: a.Reason, Updated: p.now(),
		Staged: p.plan.Staged, Expires: p.expires, Assignment: p.pod, Captured: p.captured}
	if err := p.journal.Put(rec); err != nil {
		if a.Phase == phase.Freezing {
			p.log.Error("journal write failed before freezing", zap.Error(err))
			p.finishEarly(api.CauseJournal, fmt.Sprintf("node journal unwritable, pod not frozen: %v", err))
			return false
		}
		p.log.Error("journal write failed; going on so the pod is thawed", zap.String("phase", string(a.Phase)), zap.Error(err))
	}
	p.report(p.res)
	return true
}

// wakeAt arms the freeze deadline: a Tick at that time.
func (p *backupPod) wakeAt(at time.Time) {
	p.deadline = time.AfterFunc(at.Sub(p.now()), func() { p.outcomes <- outcome{ev: phase.Tick{Now: p.now()}} })
}

// runPreHooks starts the freeze: the pod's pre-hooks, in order. The Thaw
// it returns is kept for runPostHooks whatever the hooks did.
func (p *backupPod) runPreHooks(ctx context.Context) {
	start := p.now()
	p.clock.froze(start)
	p.pacer.froze()
	p.pacing = true
	p.res.FreezeStart = ptrTime(start)
	go func() {
		thaw, results, ok := p.hooks.Freeze(ctx, p.backup, p.pod)
		p.outcomes <- outcome{ev: phase.PreHooksDone{OK: ok, Reason: hookFailure("pre", results)}, apply: func() {
			p.thaw = thaw
			p.res.Hooks = append(p.res.Hooks, results...)
			p.clock.hooksRan(results, "pre")
		}}
	}()
}

// startCapture copies the volumes while the pod is frozen: to node-local
// staging, or in direct mode straight into the repository.
func (p *backupPod) startCapture(ctx context.Context) {
	cctx, cancel := context.WithCancel(ctx)
	p.cancelCapture = cancel
	p.clock.captureStarted(p.now())
	go func() {
		vols, err := p.vols.Capture(cctx, p.ref(), p.pod, p.plan.Staged)
		reason := ""
		if err != nil {
			reason = "capture: " + err.Error()
		}
		p.outcomes <- outcome{ev: phase.CaptureDone{OK: err == nil, Reason: reason}, apply: func() {
			p.captured = vols
			p.res.Volumes = vols
		}}
	}()
}

// stopCapture cancels a capture the freeze deadline overtook; its
// CaptureDone still comes, and the machine ignores it.
func (p *backupPod) stopCapture() {
	p.cancelCapture()
	p.log.Warn("freeze deadline passed: capture cancelled, thawing", zap.Duration("maxFreeze", p.plan.MaxFreeze))
}

// runPostHooks ends the freeze: held pre-hooks are released and the
// post-hooks run (or, after a restart, the hook commands the dead process
// left are killed and the post-hooks run). The thaw may not inherit a cancellation: an agent
// shutting down still thaws what it froze. Its bound belongs to the hook
// runner (hookrun's ThawBudget: every release and post-hook at its full
// timeout), not to this executor.
func (p *backupPod) runPostHooks(ctx context.Context, captureOK bool) {
	p.clock.captureEnded(p.now())
	p.slot.release()
	thaw := p.thaw
	go func() {
		tctx := context.WithoutCancel(ctx)
		var results []api.HookResult
		var ok bool
		if thaw != nil {
			results, ok = thaw(tctx, captureOK)
		} else {
			results, ok = p.hooks.ThawOnly(tctx, p.backup, p.pod)
		}
		p.outcomes <- outcome{ev: phase.PostHooksDone{OK: ok, Reason: hookFailure("post", results)}, apply: func() {
			p.res.Hooks = settleHeld(p.res.Hooks, results)
			p.clock.hooksRan(results, "post")
			p.clock.thawed(p.now(), &p.res)
			p.leaveFreeze()
		}}
	}()
}

// settleHeld adds the thaw's results to a pod's hook records: a held
// pre-hook's release replaces its held record, so each hook is listed, and
// counted, once, by its final outcome.
func settleHeld(hooks, thaw []api.HookResult) []api.HookResult {
	out := append([]api.HookResult(nil), hooks...)
	for _, r := range thaw {
		i := slices.IndexFunc(out, func(h api.HookResult) bool {
			return h.Held && h.Phase == r.Phase && h.Name == r.Name && h.Container == r.Container
		})
		if i < 0 {
			out = append(out, r)
			continue
		}
		out[i] = r
	}
	return out
}

// startUpload sends the staged copy to the repository, after the thaw. It
// works from the staging area alone, so a restarted agent can run it again.
func (p *backupPod) startUpload(ctx context.Context) {
	go func() {
		// An upload waits for a slot, then runs; in Uploading throughout.
		var vols []api.VolumeResult
		var err error
		if p.pacer.acquire(ctx) {
			vols, err = p.vols.Upload(ctx, p.ref(), p.pod, p.captured)
			p.pacer.release()
		} else {
			vols, err = p.captured, fmt.Errorf("agent stopped before the upload's turn came: %w", ctx.Err())
		}
		reason := ""
		if err != nil {
			reason = "upload: " + err.Error()
		}
		p.outcomes <- outcome{ev: phase.UploadDone{OK: err == nil, Reason: reason}, apply: func() { p.res.Volumes = vols }}
	}()
}

// leaveFreeze tells the pacer the pod's freeze window is over (once).
func (p *backupPod) leaveFreeze() {
	if p.pacing {
		p.pacer.thawed()
		p.pacing = false
	}
}

func (p *backupPod) ref() BackupRef { return BackupRef{Name: p.backup, Expires: p.expires} }

// finishEarly ends a pod that was never frozen.
func (p *backupPod) finishEarly(cause api.FailureCause, reason string) {
	p.res.Phase, p.res.Cause, p.res.Reason = api.PodFailed, cause, reason
	p.finish()
}

// finish keeps the final result in the journal and records its metrics,
// then reports it. The journal first: the agent deletes a pod's record once
// it sees the final status, so a record written after the report could
// outlive that deletion (the fault matrix found one left behind). Metrics
// first: whoever reads the final status finds them already counted.
func (p *backupPod) finish() {
	p.res.CompletionTime = ptrTime(p.now())
	p.res.Node = p.node
	if p.res.Phase == api.PodFailed {
		p.res.MarkUncaptured(p.pod.Volumes)
	}
	if err := p.journal.Put(finalRecord(p.backup, p.nodeBackup, p.pod, p.res, p.now())); err != nil {
		p.log.Error("journal write of the final result failed", zap.Error(err))
	}
	observePod(p.metrics, p.plan.Staged, p.clock.captureTime(), p.res)
	p.report(p.res)
}

// hookFailure names the first failed hook of a phase, for the pod's reason.
func hookFailure(phase string, results []api.HookResult) string {
	for _, h := range results {
		switch {
		case h.TimedOut:
			return fmt.Sprintf("%s-hook %s in container %s timed out", phase, h.Name, h.Container)
		case h.Error != "":
			return h.Error // names the pod, the hook, its source and container
		case h.ExitCode != 0 && !h.Skipped:
			return fmt.Sprintf("%s-hook %s in container %s exited %d", phase, h.Name, h.Container, h.ExitCode)
		}
	}
	return ""
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

// captureSlot is a pod's claim on one of the node's capture slots, which
// bound concurrent captures (and so concurrent freezes).
type captureSlot struct {
	slots chan struct{}
	held  bool
}

// take waits for a free slot; false if ctx ends first.
func (s *captureSlot) take(ctx context.Context) bool {
	select {
	case s.slots <- struct{}{}:
		s.held = true
		return true
	case <-ctx.Done():
		return false
	}
}

// release frees the slot if held (the capture is over once the thaw starts).
func (s *captureSlot) release() {
	if s.held {
		<-s.slots
		s.held = false
	}
}
