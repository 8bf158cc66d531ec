package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/internal/podexec"
	"github.com/quiesce-dev/quiesce/internal/render"
)

// PodExecer runs a command in a pod's container through the API server
// (pods/exec); podexec.Execer is the implementation. A non-zero exit
// status is a Result; an error means the status is unknown.
type PodExecer interface {
	Exec(ctx context.Context, namespace, pod, container string, command []string) (podexec.Result, error)
}

// Event reasons on the Backup for its backup-level hooks.
const (
	ReasonBackupLevelHookRan      = "BackupLevelHookRan"
	ReasonBackupLevelHookFailed   = "BackupLevelHookFailed"
	ReasonBackupLevelHookTimedOut = "BackupLevelHookTimedOut"
	ReasonBackupLevelHookSkipped  = "BackupLevelHookSkipped"
)

// hookOutputExcerpt bounds the output kept in status (as the agent's).
const hookOutputExcerpt = 512

func backupObject(b *api.Backup) string { return fmt.Sprintf("backup %s/%s", b.Namespace, b.Name) }

func hasBackupLevelHooks(b *api.Backup) bool {
	h := b.Spec.Hooks.Backup
	return h != nil && len(h.Pre)+len(h.Post) > 0
}

// foldBackupHooks is ApplyBackupHooks with the Backup's resolved hooks; the
// spec was validated before the pre hooks ran.
func foldBackupHooks(b *api.Backup, st *api.BackupStatus) {
	if !hasBackupLevelHooks(b) {
		return
	}
	pre, post, err := hook.BackupLevelHooks(backupObject(b), &b.Spec.Hooks)
	if err != nil {
		return
	}
	ApplyBackupHooks(pre, post, st)
}

// validateBackup checks, before anything runs, what would otherwise fail
// the Backup only once the pre hooks had run: its label selector and every
// hook of its spec.
func validateBackup(b *api.Backup) error {
	if b.Spec.LabelSelector != nil {
		if _, err := metav1.LabelSelectorAsSelector(b.Spec.LabelSelector); err != nil {
			return fmt.Errorf("%s: spec.labelSelector: %w (fix the selector)", backupObject(b), err)
		}
	}
	return hook.ValidateBackupHooks(backupObject(b), &b.Spec.Hooks)
}

// preBackupHooks runs the backup-level pre hooks, before any pod is
// frozen. A Backup whose spec is invalid is failed before anything runs;
// failed reports that a pre hook failed with onError Fail: the Backup then
// ends Failed, after its post hooks (postBackupHooks).
func (c *Coordinator) preBackupHooks(ctx context.Context, b *api.Backup, log *zap.Logger) (failed bool, err error) {
	if !hasBackupLevelHooks(b) {
		return false, nil
	}
	if err := validateBackup(b); err != nil {
		c.fail(ctx, b, err.Error())
		return false, err
	}
	pre, _, _ := hook.BackupLevelHooks(backupObject(b), &b.Spec.Hooks)
	if err := c.runBackupHooks(ctx, b, pre, "", log); err != nil {
		return false, err
	}
	r, failed := failedWithFail(pre, b.Status.BackupHooks)
	if !failed {
		return false, nil
	}
	log.Warn("backup-level pre-hook failed with onError Fail: no pod is frozen, the backup fails", zap.String("hook", r.Name))
	return true, c.updateStatus(ctx, b, func(st *api.BackupStatus) { st.PhaseBeforePostHooks = api.BackupPhaseFailed })
}

// postBackupHooks runs the backup-level post hooks owed once every pod is
// final (b held InProgress by ApplyBackupHooks), then writes the final
// phase. They do not inherit a cancellation: like a thaw, they run
// whatever happened to the backup (each bounded by its timeout); a
// coordinator killed meanwhile leaves them to the next one.
func (c *Coordinator) postBackupHooks(ctx context.Context, b *api.Backup, log *zap.Logger) (*api.Backup, error) {
	if b.Status.Phase.Final() || !hasBackupLevelHooks(b) {
		return b, nil
	}
	pre, post, err := hook.BackupLevelHooks(backupObject(b), &b.Spec.Hooks)
	if err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	if err := c.runBackupHooks(ctx, b, post, b.Status.PhaseBeforePostHooks, log); err != nil {
		return nil, err
	}
	err = c.updateStatus(ctx, b, func(st *api.BackupStatus) {
		ApplyBackupHooks(pre, post, st)
		if st.Phase.Final() && st.CompletionTimestamp == nil {
			now := metav1.NewTime(c.now())
			st.CompletionTimestamp = &now
		}
	})
	if err != nil {
		return nil, err
	}
	c.finished(b)
	log.Info("backup finished", zap.String("phase", string(b.Status.Phase)),
		zap.Int("pods", b.Status.PodCounts.Total), zap.Int("hooksFailed", b.Status.HooksFailed))
	return b, nil
}

// runBackupHooks carries out NextBackupHook until the phase is done.
func (c *Coordinator) runBackupHooks(ctx context.Context, b *api.Backup, hooks []hook.BackupLevelHook, outcome api.BackupPhase, log *zap.Logger) error {
	for {
		step := NextBackupHook(hooks, b.Status.BackupHooks, outcome)
		switch step.Action {
		case HooksDone:
			return nil
		case HookSkip:
			h := step.Hook
			rec := api.BackupHookResult{HookResult: api.HookResult{Name: h.Name, Phase: string(h.Phase), Source: "spec " + h.Source.Ref,
				Container: h.Container, Skipped: true}, State: api.BackupHookSkipped, Reason: step.Reason}
			if err := c.setHookRecord(ctx, b, rec); err != nil {
				return err
			}
			log.Info("backup-level hook skipped", zap.String("hook", h.Name), zap.String("phase", string(h.Phase)), zap.String("reason", step.Reason))
			c.hookEvent(b, rec)
		case HookRun:
			if err := c.runBackupHook(ctx, b, step.Hook, log); err != nil {
				return err
			}
		}
	}
}

// runBackupHook records the hook Running, then runs it and records its
// outcome. Record before acting: a coordinator stopped in between finds
// it Running and runs it again.
func (c *Coordinator) runBackupHook(ctx context.Context, b *api.Backup, h hook.BackupLevelHook, log *zap.Logger) error {
	attempts := 1
	if r := findHookRecord(b.Status.BackupHooks, h); r != nil {
		attempts = r.Attempts + 1
	}
	now := metav1.NewTime(c.now())
	rec := api.BackupHookResult{
		HookResult: api.HookResult{Name: h.Name, Phase: string(h.Phase), Source: "spec " + h.Source.Ref, Container: h.Container},
		State:      api.BackupHookRunning, StartTimestamp: &now, Attempts: attempts,
	}
	if h.Job != nil {
		rec.Job = h.Namespace + "/" + hookJobName(b, h) // in the Running record: describe shows which Job runs
	}
	if err := c.setHookRecord(ctx, b, rec); err != nil {
		return err
	}
	log = log.With(zap.String("hook", h.Name), zap.String("phase", string(h.Phase)))
	start := time.Now()
	var err error
	if h.Job != nil {
		err = c.jobHook(ctx, b, h, &rec)
	} else {
		err = c.podHook(ctx, h, &rec)
	}
	if ctx.Err() != nil {
		// Stopped, not finished: the record stays Running, and the next
		// coordinator runs the hook again (a Job, it adopts).
		return fmt.Errorf("backup-level %s-hook %s: %w", h.Phase, h.Name, context.Cause(ctx))
	}
	if rec.Job != "" {
		log = log.With(zap.String("job", rec.Job))
	}
	if rec.Pod != "" {
		ns, pod, _ := strings.Cut(rec.Pod, "/")
		log = log.With(zap.String("namespace", ns), zap.String("pod", pod), zap.String("container", rec.Container))
	}
	rec.Duration = metav1.Duration{Duration: time.Since(start)}
	if err != nil {
		rec.Error, rec.ExitCode = err.Error(), -1
	}
	rec.State = api.BackupHookSucceeded
	if rec.Failed() {
		rec.State = api.BackupHookFailed
	}
	if err := c.setHookRecord(ctx, b, rec); err != nil {
		return err
	}
	log.Info("backup-level hook ran", zap.String("outcome", rec.Outcome()), zap.Duration("duration", rec.Duration.Duration),
		zap.String("onError", string(h.OnError)))
	log.Debug("backup-level hook output", zap.String("output", rec.Output))
	c.hookEvent(b, rec)
	return nil
}

// podHook runs an exec-form hook in its pod and fills rec.
func (c *Coordinator) podHook(ctx context.Context, h hook.BackupLevelHook, rec *api.BackupHookResult) error {
	pod, container, err := c.hookTarget(ctx, h)
	if pod != nil {
		rec.Pod, rec.Container = pod.Namespace+"/"+pod.Name, container
	}
	if err != nil {
		return err
	}
	return c.execHook(ctx, h, pod, container, &rec.HookResult)
}

// hookTarget picks the hook's pod, the first Running pod by name of its
// namespace that its selector matches, and the container (default: the
// pod's first).
func (c *Coordinator) hookTarget(ctx context.Context, h hook.BackupLevelHook) (*corev1.Pod, string, error) {
	var pods corev1.PodList
	if err := c.Client.List(ctx, &pods, client.InNamespace(h.Namespace), client.MatchingLabelsSelector{Selector: h.Selector}); err != nil {
		return nil, "", fmt.Errorf("list pods in namespace %s matching %s: %w", h.Namespace, h.Selector, err)
	}
	running := slices.DeleteFunc(pods.Items, func(p corev1.Pod) bool { return p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil })
	if len(running) == 0 {
		return nil, "", fmt.Errorf("no Running pod in namespace %s matches %s (%d match, none Running)", h.Namespace, h.Selector, len(pods.Items))
	}
	slices.SortFunc(running, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	pod := &running[0]
	container := h.Container
	if container == "" {
		container = pod.Spec.Containers[0].Name
	}
	if !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == container }) {
		return pod, container, fmt.Errorf("pod %s/%s has no container %q (fix %s.container)", pod.Namespace, pod.Name, container, h.Source.Ref)
	}
	return pod, container, nil
}

// execHook runs the hook's command within its timeout and fills res.
func (c *Coordinator) execHook(ctx context.Context, h hook.BackupLevelHook, pod *corev1.Pod, container string, res *api.HookResult) error {
	if c.Exec == nil {
		return errors.New("the coordinator has no pods/exec client")
	}
	hctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	out, err := c.Exec.Exec(hctx, pod.Namespace, pod.Name, container, h.Command)
	res.ExitCode = out.ExitCode
	res.Output = tailString(strings.TrimSpace(out.Stdout+"\n"+out.Stderr), hookOutputExcerpt)
	if err != nil && hctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
		res.TimedOut = true
		return fmt.Errorf("no exit status within the timeout %s (API-server exec does not kill the process)", h.Timeout)
	}
	return err
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// setHookRecord writes one hook's record into the Backup's status.
func (c *Coordinator) setHookRecord(ctx context.Context, b *api.Backup, r api.BackupHookResult) error {
	return c.updateStatus(ctx, b, func(st *api.BackupStatus) {
		st.BackupHooks = setHookRecord(st.BackupHooks, r)
	})
}

// hookEvent records a backup-level hook's outcome as an Event on the
// Backup, worded as the pods' hook Events.
func (c *Coordinator) hookEvent(b *api.Backup, r api.BackupHookResult) {
	if c.Events == nil {
		return
	}
	where := "in pod " + orDash(r.Pod) + " container " + orDash(r.Container)
	if r.Job != "" {
		where = "as job " + r.Job
		if r.Pod != "" {
			where += " (pod " + r.Pod + " container " + orDash(r.Container) + ")"
		}
	}
	switch {
	case r.State == api.BackupHookSkipped:
		c.Events.Eventf(b, corev1.EventTypeNormal, ReasonBackupLevelHookSkipped, "backup-level %s-hook %s skipped: %s", r.Phase, r.Name, r.Reason)
	case r.TimedOut:
		c.Events.Eventf(b, corev1.EventTypeWarning, ReasonBackupLevelHookTimedOut, "backup-level %s-hook %s %s timed out after %s",
			r.Phase, r.Name, where, render.Duration(r.Duration.Duration))
	case r.Failed():
		c.Events.Eventf(b, corev1.EventTypeWarning, ReasonBackupLevelHookFailed, "backup-level %s-hook %s %s failed: %s",
			r.Phase, r.Name, where, firstNonEmpty(r.Error, fmt.Sprintf("exit code %d", r.ExitCode)))
	default:
		c.Events.Eventf(b, corev1.EventTypeNormal, ReasonBackupLevelHookRan, "backup-level %s-hook %s %s ran in %s",
			r.Phase, r.Name, where, render.Duration(r.Duration.Duration))
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
