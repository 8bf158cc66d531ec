package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/quiesce-dev/quiesce/agent/journal"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/hookrun"
)

// restorePhase is the HookResult phase of post-restore hooks.
const restorePhase = string(hook.PostRestore)

// restorePod carries out one pod's assignment of a NodeRestore.
type restorePod struct {
	r                    *Restorer
	restore, nodeRestore string
	nodeRestoreUID       string
	a                    *api.RestorePodAssignment
	// prev is the pod's status left by an earlier agent process, if any.
	prev *api.RestorePodResult
	log  *zap.Logger
	res  api.RestorePodResult
}

// run restores the pod's volumes, releases it, and runs its hooks, all
// before deadline. final is false when ctx ended first (the agent is
// stopping): the pod is then left, unreported, to the next agent process.
func (p *restorePod) run(ctx context.Context, deadline time.Time) (res api.RestorePodResult, final bool) {
	p.res = api.RestorePodResult{Namespace: p.a.Namespace, Name: p.a.Name, UID: p.a.UID, Node: p.r.Node, Phase: api.RestorePodPending}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	volumesOK := true
	switch {
	case p.prev != nil && (p.prev.Phase == api.RestorePodWaitingContainer || p.prev.Phase == api.RestorePodRunningHooks):
		// An earlier agent process restored the volumes and ran some hooks.
		p.res.Volumes, p.res.Hooks = p.prev.Volumes, p.prev.Hooks
		p.log.Info("resuming the pod's post-restore hooks", zap.Int("hooksDone", len(p.prev.Hooks)))
	case len(p.a.Volumes) > 0:
		volumesOK = p.restoreVolumes(dctx)
	}
	var hooksFailed string
	if volumesOK {
		hooksFailed = p.runHooks(dctx)
	} else {
		for _, h := range p.a.Hooks {
			p.res.Hooks = append(p.res.Hooks, skippedHook(h, "not run: the pod's volume data was not restored"))
		}
	}
	if ctx.Err() != nil {
		return p.res, false
	}
	switch {
	case !volumesOK:
		p.res.Phase = api.RestorePodFailed // the reason is set where the volumes failed
	case hooksFailed != "":
		p.res.Phase, p.res.Reason = api.RestorePodPartiallyFailed, hooksFailed
	default:
		p.res.Phase, p.res.Reason = api.RestorePodCompleted, ""
	}
	p.res.CompletionTime = ptrTime(p.r.Now())
	p.log.Info("pod restore finished", zap.String("phase", string(p.res.Phase)), zap.String("reason", p.res.Reason))
	return p.res, true
}

func (p *restorePod) setPhase(ph api.RestorePodPhase, reason string) {
	p.res.Phase, p.res.Reason = ph, reason
	p.r.status.report(p.nodeRestore, p.res)
}

func (p *restorePod) podName() string { return p.a.Namespace + "/" + p.a.Name }

// restoreVolumes waits for the pod's wait init container to run (the
// kubelet has then set up every volume), restores each volume, and writes
// the signal that releases the wait container. Once the pod is known, a
// signal is always written, so the pod never waits on the agent in vain.
func (p *restorePod) restoreVolumes(ctx context.Context) bool {
	p.setPhase(api.RestorePodRestoringVolumes, "waiting for init container "+api.RestoreWaitContainer+" to run")
	pod, err := waitPod(ctx, p.r.Client, p.log, p.a.Namespace, p.a.Name, p.a.UID, waitContainerStarted)
	if err != nil {
		reason := fmt.Sprintf("volume data not restored: init container %s of pod %s not running: %v", api.RestoreWaitContainer, p.podName(), err)
		if errors.Is(err, context.DeadlineExceeded) {
			reason = fmt.Sprintf("volume data not restored: the restore's deadline passed before init container %s of pod %s ran", api.RestoreWaitContainer, p.podName())
		}
		p.res.Reason = reason
		if errors.Is(err, context.Canceled) {
			return false // the agent is stopping: the next one resumes this pod
		}
		if pod == nil && errors.Is(err, context.DeadlineExceeded) {
			pod = p.getPod(ctx) // e.g. the deadline had passed before this agent started
		}
		if pod != nil {
			_ = p.signal(ctx, pod, api.RestoreSignal{Reason: reason})
		}
		return false
	}
	if s := initStatus(pod, api.RestoreWaitContainer); s != nil && s.State.Terminated != nil {
		// The wait container already succeeded: an earlier agent process
		// restored the volumes and the application may be running now.
		// Restoring again would overwrite its data.
		p.log.Info("wait container already finished: volumes were restored by an earlier agent process")
		if recorded := p.ledger().Volumes; len(recorded) > 0 {
			p.res.Volumes = recorded // with their files and bytes
			return true
		}
		for _, v := range p.a.Volumes {
			p.res.Volumes = append(p.res.Volumes, api.VolumeRestoreResult{Name: v.Name, SnapshotID: v.SnapshotID})
		}
		return true
	}

	var failures []string
	for _, v := range p.a.Volumes {
		vr, err := api.VolumeRestoreResult{Name: v.Name, SnapshotID: v.SnapshotID}, ctx.Err()
		if err == nil {
			vr, err = p.restoreVolume(ctx, pod, v)
		} else if errors.Is(err, context.DeadlineExceeded) {
			err = errors.New("not restored: the restore's deadline passed")
		}
		if err != nil {
			vr.Error = err.Error()
			failures = append(failures, fmt.Sprintf("volume %s: %v", v.Name, err))
		}
		p.res.Volumes = append(p.res.Volumes, vr)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return false // the agent is stopping: no signal, the next agent restores again
	}
	sig := api.RestoreSignal{OK: len(failures) == 0}
	if !sig.OK {
		sig.Reason = strings.Join(failures, "; ")
		p.res.Reason = "volume data not restored: " + sig.Reason
	} else if err := p.recordVolumes(); err != nil {
		// Only what a restarted agent reports is at stake, not the data.
		p.log.Warn("volume results not recorded in the node's restore ledger", zap.Error(err))
	}
	if err := p.signal(ctx, pod, sig); err != nil && sig.OK {
		p.res.Reason = fmt.Sprintf("volume data restored, but the pod not released: %v", err)
		return false
	}
	return sig.OK
}

func (p *restorePod) restoreVolume(ctx context.Context, pod *corev1.Pod, v api.RestoreVolume) (api.VolumeRestoreResult, error) {
	vr := api.VolumeRestoreResult{Name: v.Name, SnapshotID: v.SnapshotID}
	log := p.log.With(zap.String("volume", v.Name), zap.String("snapshot", v.SnapshotID))
	dir, err := volumeDir(ctx, p.r.Client, p.r.KubeletRoot, p.r.Mounts, pod, v.Name, claimOf(pod, v.Name))
	if err != nil {
		log.Error("volume directory not found", zap.Error(err))
		return vr, err
	}
	start := p.r.Now()
	rr, err := p.r.Volumes.Restore(ctx, v.SnapshotID, dir, fsbackup.RestoreOptions{Overwrite: true})
	vr.Files, vr.Bytes = rr.Files, rr.Bytes
	vr.Duration = metav1.Duration{Duration: max(rr.Duration, p.r.Now().Sub(start))}
	if err != nil {
		log.Error("volume restore failed", zap.String("dir", dir), zap.Error(err))
		return vr, err
	}
	log.Info("volume restored", zap.String("dir", dir), zap.Int64("files", rr.Files), zap.Int64("bytes", rr.Bytes), zap.Duration("duration", vr.Duration.Duration))
	return vr, nil
}

// getPod gets the assigned pod outside ctx's deadline, for a last signal;
// nil if it is gone, replaced or unreachable.
func (p *restorePod) getPod(ctx context.Context) *corev1.Pod {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var pod corev1.Pod
	if err := p.r.Client.Get(ctx, types.NamespacedName{Namespace: p.a.Namespace, Name: p.a.Name}, &pod); err != nil || string(pod.UID) != p.a.UID {
		return nil
	}
	return &pod
}

// claimOf names the claim behind pod's volume, if any.
func claimOf(pod *corev1.Pod, volume string) string {
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Name != volume:
		case v.PersistentVolumeClaim != nil:
			return v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			return pod.Name + "-" + v.Name // the generic ephemeral volume's claim
		}
	}
	return ""
}

// signal writes sig into the pod's signal emptyDir. A failure is logged
// and recorded in the pod's reason, and returned.
func (p *restorePod) signal(ctx context.Context, pod *corev1.Pod, sig api.RestoreSignal) error {
	// The signal is local I/O: it still goes out after the deadline.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	dir, err := volumeDir(ctx, p.r.Client, p.r.KubeletRoot, p.r.Mounts, pod, api.RestoreSignalVolume, "")
	if err == nil {
		err = writeSignal(dir, sig)
	}
	if err != nil {
		err = fmt.Errorf("signal to init container %s: %w", api.RestoreWaitContainer, err)
		p.log.Error("restore signal not written: the pod stays in Init until its wait times out", zap.Bool("ok", sig.OK), zap.Error(err))
		if !sig.OK {
			p.res.Reason += "; " + err.Error()
		}
		return err
	}
	p.log.Info("restore signal written", zap.Bool("ok", sig.OK), zap.String("reason", sig.Reason))
	return nil
}

// runHooks runs the pod's post-restore hooks in order, each once its
// container runs (or is ready), with onError; it returns why the first
// failed hook failed, or "".
func (p *restorePod) runHooks(ctx context.Context) string {
	// Hooks with a result from an earlier agent process are not run again,
	// and neither are those it started (the ledger): at most once.
	done := p.res.Hooks
	p.res.Hooks = nil
	ledger := p.ledger()
	stopped, failed := "", ""
	for i, h := range p.a.Hooks {
		if stopped == "" && ctx.Err() != nil {
			stopped = "not run: the restore's deadline passed"
		}
		var hr api.HookResult
		switch {
		case i < len(done) && done[i].Name == h.Name:
			hr = done[i]
		case ledger.Results[i].Name == h.Name && h.Name != "":
			hr = ledger.Results[i] // ended, but its status write was lost
		case ledger.Started[i] == h.Name && h.Name != "":
			hr = interruptedHook(h)
			p.log.Warn("post-restore hook was running when an earlier agent process stopped: not run again", zap.String("hook", h.Name))
		case stopped != "":
			p.res.Hooks = append(p.res.Hooks, skippedHook(h, stopped))
			continue
		default:
			hr = p.runHook(ctx, h, func() error { return p.recordHook(&ledger, i, h.Name, nil) })
			if err := p.recordHook(&ledger, i, h.Name, &hr); err != nil {
				p.log.Warn("hook result not recorded in the node's restore ledger", zap.String("hook", h.Name), zap.Error(err))
			}
		}
		p.res.Hooks = append(p.res.Hooks, hr)
		p.r.status.report(p.nodeRestore, p.res)
		if hr.Failed() {
			if failed == "" {
				failed = p.hookFailure(h, hr)
			}
			if h.OnError != api.HookErrorModeContinue {
				stopped = fmt.Sprintf("not run: hook %q failed and its onError is Fail", h.Name)
			}
		}
	}
	return failed
}

// ledger is the pod's restore ledger entry, empty without a ledger; an
// unreadable entry is logged and read as empty (the hooks it held may then
// run again: at least once rather than never).
func (p *restorePod) ledger() journal.PodRestore {
	if p.r.Ledger == nil {
		return journal.PodRestore{}
	}
	e, err := p.r.Ledger.Get(p.nodeRestoreUID, p.a.UID)
	if err != nil {
		p.log.Error("restore ledger unreadable: hooks an earlier agent process started may run again", zap.Error(err))
	}
	return e
}

// recordVolumes records the pod's volume results in the ledger, before
// the signal releases the pod.
func (p *restorePod) recordVolumes() error {
	if p.r.Ledger == nil {
		return nil
	}
	e := p.ledger()
	e.NodeRestore, e.PodUID, e.Updated, e.Volumes = p.nodeRestoreUID, p.a.UID, p.r.Now(), p.res.Volumes
	return p.r.Ledger.Put(e)
}

// recordHook records in the ledger that hook i started (res nil) or
// ended with res.
func (p *restorePod) recordHook(e *journal.PodRestore, i int, name string, res *api.HookResult) error {
	if p.r.Ledger == nil {
		return nil
	}
	e.NodeRestore, e.PodUID, e.Updated = p.nodeRestoreUID, p.a.UID, p.r.Now()
	if res == nil {
		if e.Started == nil {
			e.Started = map[int]string{}
		}
		e.Started[i] = name
	} else {
		if e.Results == nil {
			e.Results = map[int]api.HookResult{}
		}
		e.Results[i] = *res
	}
	return p.r.Ledger.Put(*e)
}

// interruptedHook is the result of a hook an earlier agent process started
// and did not see end: failed, since its outcome is unknown, and not run
// again.
func interruptedHook(h api.RestoreExecHookSpec) api.HookResult {
	return api.HookResult{Name: h.Name, Phase: restorePhase, Source: h.Source, Container: h.Container, ExitCode: -1,
		Error: fmt.Sprintf("post-restore hook %s in container %s was running when the agent stopped; its outcome is unknown and it is not run again (post-restore hooks run at most once): check what it did", h.Name, h.Container)}
}

// runHook waits for the hook's container, then runs it; started is called
// just before the exec, and the hook is not run if it fails.
func (p *restorePod) runHook(ctx context.Context, h api.RestoreExecHookSpec, started func() error) api.HookResult {
	log := p.log.With(zap.String("hook", h.Name), zap.String("container", h.Container))
	want := "running"
	if h.WaitForReady {
		want = "ready"
	}
	p.setPhase(api.RestorePodWaitingContainer, fmt.Sprintf("hook %s: waiting for container %s to be %s", h.Name, h.Container, want))
	wctx, cancel := ctx, context.CancelFunc(func() {})
	if h.WaitTimeout.Duration > 0 {
		wctx, cancel = context.WithTimeout(ctx, h.WaitTimeout.Duration)
	}
	defer cancel()
	start := p.r.Now()
	if _, err := waitPod(wctx, p.r.Client, log, p.a.Namespace, p.a.Name, p.a.UID, containerUp(h.Container, h.WaitForReady)); err != nil {
		r := api.HookResult{Name: h.Name, Phase: restorePhase, Source: h.Source, Container: h.Container,
			Duration: metav1.Duration{Duration: p.r.Now().Sub(start)}}
		switch {
		case ctx.Err() != nil:
			r.TimedOut, r.Error = true, fmt.Sprintf("container %s not %s by the restore's deadline", h.Container, want)
		case errors.Is(err, context.DeadlineExceeded):
			r.TimedOut, r.Error = true, fmt.Sprintf("container %s not %s after %s (waitTimeout)", h.Container, want, h.WaitTimeout.Duration)
		default:
			r.Error = fmt.Sprintf("container %s: %v", h.Container, err)
		}
		log.Warn("post-restore hook not run", zap.String("error", r.Error))
		return r
	}
	p.setPhase(api.RestorePodRunningHooks, "hook "+h.Name)
	if err := started(); err != nil {
		r := api.HookResult{Name: h.Name, Phase: restorePhase, Source: h.Source, Container: h.Container, ExitCode: -1,
			Error: fmt.Sprintf("not run: its start could not be recorded in the node's restore ledger (%v); free or fix the agent's state directory (agent.stateDir)", err)}
		log.Error("post-restore hook not run", zap.String("error", r.Error))
		return r
	}
	rs := hookrun.Run(ctx, p.r.Runtime, hookrun.PodRef{Namespace: p.a.Namespace, Name: p.a.Name, UID: p.a.UID},
		hook.FromResolved(hook.PostRestore, []api.ResolvedHook{h.ResolvedHook}), hookrun.Options{Logger: log})
	r := toAPIResults(rs)[0]
	r.Phase = restorePhase
	return r
}

// hookFailure is the pod's reason for a failed hook. hookrun's errors name
// the pod, the hook and the container already; wait errors do not.
func (p *restorePod) hookFailure(h api.RestoreExecHookSpec, hr api.HookResult) string {
	if strings.HasPrefix(hr.Error, "pod "+p.a.Namespace+"/"+p.a.Name+":") {
		return strings.TrimPrefix(hr.Error, "pod "+p.a.Namespace+"/"+p.a.Name+": ")
	}
	return fmt.Sprintf("post-restore hook %s in container %s: %s", h.Name, h.Container, firstNonEmpty(hr.Error, hr.Outcome()))
}

func skippedHook(h api.RestoreExecHookSpec, reason string) api.HookResult {
	return api.HookResult{Name: h.Name, Phase: restorePhase, Source: h.Source, Container: h.Container, Skipped: true, Output: reason}
}
