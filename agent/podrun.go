package agent

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/agent/phase"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/metrics"
)

// ThawTimeout bounds a thaw that runs detached from a cancelled context
// (agent shutting down): the post-hooks still run, each under its own
// timeout, and this is the backstop.
const ThawTimeout = 10 * time.Minute

// podRun carries out one pod's backup: it feeds the phase machine's
// decisions to the hook runner, the volume engine and the journal, and the
// outcomes back to the machine, until the pod is final.
type podRun struct {
	backup, nodeBackup string
	expires            time.Time
	pod                *api.PodAssignment
	plan               phase.Plan
	hooks              Hooks
	vols               Volumes
	journal            *journal.Journal
	// slots bounds concurrent captures; a pod takes its slot before its
	// pre-hooks, so it is never frozen while waiting for one.
	slots  chan struct{}
	report func(api.PodResult) // must not block
	// gates delivers the latest gate of the pod's consistency group
	// (grouped pods only; a mailbox holding one value).
	gates   chan groupGate
	log     *zap.Logger
	metrics *metrics.Agent // may be nil
	now     func() time.Time
}

// groupGate is what the pod's consistency group allows it, from the
// NodeBackup's gates.
type groupGate struct {
	freeze, capture, thaw, abort bool
	reason                       string
}

// gateFor reads the gate of pod's group from the NodeBackup.
func gateFor(nb *api.NodeBackup, pod *api.PodAssignment) groupGate {
	for _, g := range nb.Spec.GroupGates {
		if g.Group != pod.Group.Name {
			continue
		}
		return groupGate{freeze: pod.Group.Order <= g.FreezeUpTo, capture: g.Capture,
			thaw: g.ThawDownTo != nil && pod.Group.Order >= *g.ThawDownTo, abort: g.Abort, reason: g.Reason}
	}
	return groupGate{}
}

// events translates a gate into phase machine events (repeats are
// harmless: the machine ignores a gate it is not waiting for).
func (g groupGate) events() []phase.Event {
	var evs []phase.Event
	if g.abort {
		return []phase.Event{phase.AbortGate{Reason: g.reason}}
	}
	if g.capture {
		evs = append(evs, phase.CaptureGate{})
	}
	if g.thaw {
		evs = append(evs, phase.ThawGate{})
	}
	return evs
}

// deliver replaces the mailbox's gate with g (one sender: the agent loop).
func deliver(box chan groupGate, g groupGate) {
	select {
	case <-box:
	default:
	}
	box <- g
}

// msg is an outcome from a goroutine: apply runs on the loop goroutine
// (where all state lives), then ev is stepped.
type msg struct {
	ev    phase.Event
	apply func()
}

// run takes the pod from Pending (or, with resume, from the journalled phase)
// to a final phase and returns its result.
func (r *podRun) run(ctx context.Context, resume *journal.Record) api.PodResult {
	log := r.log.With(zap.String("backup", r.backup), zap.String("namespace", r.pod.Namespace),
		zap.String("pod", r.pod.Name), zap.String("podUID", r.pod.UID))
	res := api.PodResult{Namespace: r.pod.Namespace, Name: r.pod.Name, UID: r.pod.UID, Phase: api.PodPending}
	var (
		m                         *phase.Machine
		acts                      []phase.Action
		thaw                      Thaw
		captured                  []api.VolumeResult
		cancelCapture             = func() {}
		freezeStart, captureStart time.Time
		hookTime, captureTime     time.Duration
		haveSlot                  bool
		events                    = make(chan msg, 8) // one message per started operation at most
		timer                     *time.Timer
	)
	releaseSlot := func() {
		if haveSlot {
			<-r.slots
			haveSlot = false
		}
	}
	defer releaseSlot()
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()

	if resume != nil {
		captured = resume.Captured
		m, acts = phase.Resume(r.plan, resume.Phase, resume.Reason)
		if resume.Phase.Frozen() {
			log.Warn("pod found frozen by an earlier agent process: thawing it first", zap.String("phase", string(resume.Phase)))
			if r.metrics != nil {
				r.metrics.ThawedOnRestart.Inc()
			}
		}
	} else if r.plan.Grouped {
		// A group member freezes when its order's turn comes; it takes no
		// capture slot (the members must all be frozen at once).
		for {
			var g groupGate
			select {
			case g = <-r.gates:
			case <-ctx.Done():
				res.Phase, res.Reason = api.PodFailed, "agent stopped before the pod's turn came"
				return res
			}
			if g.abort {
				res.Phase, res.Reason = api.PodFailed, firstNonEmpty(g.reason, "consistency group aborted")+"; pod not frozen"
				r.report(res)
				return res
			}
			if g.freeze {
				m = phase.New(r.plan)
				acts = m.Step(phase.Start{Now: r.now()})
				for _, ev := range g.events() { // a capture gate may already be open
					acts = append(acts, m.Step(ev)...)
				}
				break
			}
		}
	} else {
		select {
		case r.slots <- struct{}{}:
			haveSlot = true
		case <-ctx.Done():
			res.Phase, res.Reason = api.PodFailed, "agent stopped before the pod's turn came"
			return res
		}
		m = phase.New(r.plan)
		acts = m.Step(phase.Start{Now: r.now()})
	}

	var done <-chan struct{}
	if r.plan.Grouped {
		done = ctx.Done()
	}
	for {
		for _, a := range acts {
			switch a := a.(type) {
			case phase.Persist:
				res.Phase, res.Reason = api.PodPhase(a.Phase), a.Reason
				rec := journal.Record{Backup: r.backup, NodeBackup: r.nodeBackup, Namespace: r.pod.Namespace, Pod: r.pod.Name,
					PodUID: r.pod.UID, Phase: a.Phase, ThawBy: a.ThawBy, Reason: a.Reason, Updated: r.now(),
					Staged: r.plan.Staged, Expires: r.expires, Assignment: r.pod, Captured: captured}
				if err := r.journal.Put(rec); err != nil {
					if a.Phase == phase.Freezing {
						// Nothing is frozen yet and nothing would record that it
						// is: do not start.
						res.Phase, res.Reason = api.PodFailed, fmt.Sprintf("node journal unwritable, pod not frozen: %v", err)
						log.Error("journal write failed before freezing", zap.Error(err))
						r.report(res)
						return res
					}
					log.Error("journal write failed; going on so the pod is thawed", zap.String("phase", string(a.Phase)), zap.Error(err))
				}
				if a.Phase.Final() {
					res.CompletionTime = ptrTime(r.now())
					r.observeFinal(&res, freezeStart, hookTime, captureTime)
				}
				log.Info("pod phase", zap.String("phase", string(a.Phase)), zap.String("reason", a.Reason))
				r.report(res)
			case phase.WakeAt:
				at := a.At
				timer = time.AfterFunc(at.Sub(r.now()), func() { events <- msg{ev: phase.Tick{Now: r.now()}} })
			case phase.RunPreHooks:
				freezeStart = r.now()
				res.FreezeStart = ptrTime(freezeStart)
				go func() {
					t, results, ok := r.hooks.Freeze(ctx, r.backup, r.pod)
					events <- msg{ev: phase.PreHooksDone{OK: ok, Reason: hookFailure("pre", results)}, apply: func() {
						thaw = t
						res.Hooks = append(res.Hooks, results...)
						hookTime += sumDurations(results, "pre")
					}}
				}()
			case phase.StartCapture:
				cctx, cancel := context.WithCancel(ctx)
				cancelCapture = cancel
				captureStart = r.now()
				go func() {
					vols, err := r.vols.Capture(cctx, BackupRef{Name: r.backup, Expires: r.expires}, r.pod, r.plan.Staged)
					reason := ""
					if err != nil {
						reason = "capture: " + err.Error()
					}
					events <- msg{ev: phase.CaptureDone{OK: err == nil, Reason: reason}, apply: func() {
						captured = vols
						res.Volumes = vols
					}}
				}()
			case phase.CancelCapture:
				cancelCapture()
				log.Warn("freeze deadline passed: capture cancelled, thawing", zap.Duration("maxFreeze", r.plan.MaxFreeze))
				if r.metrics != nil {
					r.metrics.ThawedByDeadline.Inc()
				}
			case phase.RunPostHooks:
				if !captureStart.IsZero() {
					captureTime = r.now().Sub(captureStart)
				}
				releaseSlot()
				captureOK := a.CaptureOK
				go func() {
					// The thaw may not inherit a cancellation: an agent
					// shutting down still thaws what it froze.
					tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ThawTimeout)
					defer cancel()
					var results []api.HookResult
					var ok bool
					if thaw != nil {
						results, ok = thaw(tctx, captureOK)
					} else {
						results, ok = r.hooks.ThawOnly(tctx, r.backup, r.pod)
					}
					events <- msg{ev: phase.PostHooksDone{OK: ok, Reason: hookFailure("post", results)}, apply: func() {
						res.Hooks = append(res.Hooks, results...)
						// Releases of held pre-hooks (phase "pre" here) last as
						// long as the hold, which overlaps the capture: only
						// the post-hooks proper count as hook time.
						hookTime += sumDurations(results, "post")
						if !freezeStart.IsZero() {
							end := r.now()
							res.FreezeEnd = ptrTime(end)
							window := end.Sub(freezeStart)
							res.Freeze = &metav1.Duration{Duration: window}
							res.ControlOverhead = &metav1.Duration{Duration: max(0, window-hookTime-captureTime)}
						}
					}}
				}()
			case phase.StartUpload:
				go func() {
					vols, err := r.vols.Upload(ctx, BackupRef{Name: r.backup, Expires: r.expires}, r.pod, captured)
					reason := ""
					if err != nil {
						reason = "upload: " + err.Error()
					}
					events <- msg{ev: phase.UploadDone{OK: err == nil, Reason: reason}, apply: func() { res.Volumes = vols }}
				}()
			}
		}
		if m.Phase().Final() {
			return res
		}
		select {
		case <-done: // stopping: a member waiting on its group thaws now
			done = nil
			acts = m.Step(phase.AbortGate{Reason: "agent stopped while the pod waited for its consistency group"})
		case ev := <-events: // every started operation reports, ctx or not
			if ev.apply != nil {
				ev.apply()
			}
			acts = m.Step(ev.ev)
		case g := <-r.gates: // nil channel for pods outside groups
			acts = nil
			for _, ev := range g.events() {
				acts = append(acts, m.Step(ev)...)
			}
		}
	}
}

func (r *podRun) observeFinal(res *api.PodResult, freezeStart time.Time, hookTime, captureTime time.Duration) {
	if r.metrics == nil {
		return
	}
	r.metrics.PodsFinished.WithLabelValues(string(res.Phase)).Inc()
	if res.Freeze != nil {
		r.metrics.FreezeWindow.Observe(res.Freeze.Duration.Seconds())
	}
	if res.ControlOverhead != nil {
		r.metrics.ControlOverhead.Observe(res.ControlOverhead.Duration.Seconds())
	}
	mode := "direct"
	if r.plan.Staged {
		mode = "staged"
	}
	if captureTime > 0 {
		r.metrics.CaptureDuration.WithLabelValues(mode).Observe(captureTime.Seconds())
	}
	for _, h := range res.Hooks {
		result := "ok"
		switch {
		case h.Skipped:
			continue
		case h.TimedOut:
			result = "timeout"
		case h.Error != "" && h.ExitCode == 0:
			result = "error"
		case h.ExitCode != 0:
			result = "failed"
		}
		r.metrics.HookDuration.WithLabelValues(h.Phase, result).Observe(h.Duration.Duration.Seconds())
	}
	for _, v := range res.Volumes {
		r.metrics.CaptureBytes.Add(float64(v.Bytes))
		r.metrics.CaptureFiles.Add(float64(v.Files))
		r.metrics.UploadedBytes.Add(float64(v.UploadedBytes))
		if r.plan.Staged && v.Upload.Duration > 0 {
			r.metrics.UploadDuration.Observe(v.Upload.Duration.Seconds())
		}
	}
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

func sumDurations(results []api.HookResult, phase string) time.Duration {
	var d time.Duration
	for _, h := range results {
		if h.Phase == phase {
			d += h.Duration.Duration
		}
	}
	return d
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}
