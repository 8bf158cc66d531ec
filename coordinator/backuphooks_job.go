package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/hook"
)

// The job form of backup-level hooks: this file builds the Job and reads
// its outcome, purely; HookJobs (hookjobs.go) creates and waits on it.

// Labels and annotations of a backup-level hook's Job (LabelBackup names
// the Backup, as on its NodeBackups).
const (
	// LabelHookPhase is "pre" or "post".
	LabelHookPhase = "quiesce.dev/hook-phase"
	// AnnBackupUID is the UID of the Backup whose hook the Job runs: a Job
	// of the expected name is adopted only when it carries the same.
	AnnBackupUID = "quiesce.dev/backup-uid"
	// AnnHookSource is "backup NS/NAME spec.hooks.backup.pre[0]", for people.
	AnnHookSource = "quiesce.dev/hook"
)

const (
	// hookJobTTL keeps a finished hook Job (and its pod's log) for an hour:
	// long enough for a restarted coordinator to find it instead of running
	// the hook again, and for whoever reads the alert to read its log;
	// short enough that an hourly schedule leaves a handful.
	hookJobTTL = time.Hour
	// jobDeadlineGrace is how long after the hook's timeout the coordinator
	// waits for the Job controller to report the Job Failed
	// (activeDeadlineSeconds) before it deletes the Job itself.
	jobDeadlineGrace = 15 * time.Second
)

// hookJobName is the Job's name: fixed per Backup (its UID included) and
// hook, so a restarted coordinator finds the Job it created rather than
// creating a second one. Readable first (backup, phase, hook), hashed last
// for uniqueness, and at most 63 characters: the Job controller puts it in
// its pods' job-name label.
func hookJobName(b *api.Backup, h hook.BackupLevelHook) string {
	sum := sha256.Sum256([]byte(strings.Join([]string{b.Namespace, b.Name, string(b.UID), string(h.Phase), h.Name}, "/")))
	suffix := hex.EncodeToString(sum[:4])
	base := dnsLabelPart(b.Name + "-" + string(h.Phase) + "-" + h.Name)
	if n := 63 - len(suffix) - 1; len(base) > n {
		base = strings.TrimRight(base[:n], "-")
	}
	return base + "-" + suffix
}

// dnsLabelPart lowercases s and turns every run of characters a DNS-1123
// label may not hold into one "-" ("pre[0]" becomes "pre-0").
func dnsLabelPart(s string) string {
	var sb strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			sb.WriteRune(r)
			dash = false
		} else if !dash {
			sb.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(sb.String(), "-")
}

// hookJob is the Job that runs h (a job-form hook) for b: its template and
// retries, the timeout as activeDeadlineSeconds (the Job controller kills
// its pod when it passes), a TTL for the cleanup (a Job in another
// namespace cannot be owned by the Backup), and labels naming the Backup
// on the Job and its pods.
func hookJob(b *api.Backup, h hook.BackupLevelHook) *batchv1.Job {
	labels := map[string]string{api.LabelBackup: b.Name, LabelHookPhase: string(h.Phase), "app.kubernetes.io/managed-by": "quiesce"}
	tmpl := h.Job.Template.DeepCopy()
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	maps.Copy(tmpl.Labels, labels)
	deadline := max(int64(math.Ceil(h.Timeout.Seconds())), 1)
	backoff, ttl := h.Job.BackoffLimit, int32(hookJobTTL.Seconds())
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.Namespace, Name: hookJobName(b, h), Labels: labels,
			Annotations: map[string]string{AnnBackupUID: string(b.UID), AnnHookSource: backupObject(b) + " " + h.Source.Ref}},
		Spec: batchv1.JobSpec{Template: *tmpl, BackoffLimit: &backoff, ActiveDeadlineSeconds: &deadline, TTLSecondsAfterFinished: &ttl},
	}
}

// jobFinished returns the Job's Complete or Failed condition, or nil while
// it runs.
func jobFinished(j *batchv1.Job) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// JobPod is what the last pod of a hook's Job says: where it ran, the exit
// code of its container (Known false when no container had terminated)
// and a tail of that container's log.
type JobPod struct {
	Pod, Container string
	ExitCode       int
	Known          bool
	Output         string
}

// jobOutcome fills res from the finished Job and its last pod, worded as
// the exec form's: a known exit code is the outcome; otherwise the Job's
// condition (reason: message) is the error. A Job that hit its deadline
// timed out.
func jobOutcome(j *batchv1.Job, pod JobPod, res *api.HookResult) {
	res.Container, res.Output = pod.Container, tailString(strings.TrimSpace(pod.Output), hookOutputExcerpt)
	cond := jobFinished(j)
	switch {
	case cond == nil:
		res.ExitCode, res.Error = -1, fmt.Sprintf("job %s/%s has not finished", j.Namespace, j.Name)
	case cond.Type == batchv1.JobComplete:
		res.ExitCode = 0
	case cond.Reason == batchv1.JobReasonDeadlineExceeded:
		res.TimedOut, res.ExitCode = true, -1
		res.Error = fmt.Sprintf("job %s/%s: %s", j.Namespace, j.Name, conditionText(cond))
	case pod.Known && pod.ExitCode != 0:
		res.ExitCode = pod.ExitCode
	default:
		res.ExitCode, res.Error = -1, fmt.Sprintf("job %s/%s failed: %s", j.Namespace, j.Name, conditionText(cond))
	}
}

func conditionText(c *batchv1.JobCondition) string {
	if c.Message == "" {
		return c.Reason
	}
	return c.Reason + ": " + c.Message
}

// lastJobPod picks, among a Job's pods, the last one started (by creation,
// then name) and, in it, the container that tells the outcome: the first
// that failed, else the first that terminated, else the first.
func lastJobPod(pods []corev1.Pod) (JobPod, bool) {
	if len(pods) == 0 {
		return JobPod{}, false
	}
	last := &pods[0]
	for i := range pods[1:] {
		p := &pods[i+1]
		if last.CreationTimestamp.Before(&p.CreationTimestamp) ||
			(last.CreationTimestamp.Equal(&p.CreationTimestamp) && p.Name > last.Name) {
			last = p
		}
	}
	out := JobPod{Pod: last.Namespace + "/" + last.Name}
	if len(last.Spec.Containers) > 0 {
		out.Container = last.Spec.Containers[0].Name
	}
	for _, cs := range last.Status.ContainerStatuses {
		t := cs.State.Terminated
		if t == nil {
			continue
		}
		if !out.Known || (out.ExitCode == 0 && t.ExitCode != 0) {
			out.Container, out.ExitCode, out.Known = cs.Name, int(t.ExitCode), true
		}
	}
	return out, true
}

// jobHook runs a job-form hook and fills rec. The Job controller enforces
// the timeout (activeDeadlineSeconds); the wait lasts jobDeadlineGrace
// longer, and a Job still unfinished then is deleted by the coordinator.
// A timed-out Job is deleted either way, so that nothing of the hook runs
// on. A cancelled ctx leaves the Job to the next coordinator, which adopts
// it.
func (c *Coordinator) jobHook(ctx context.Context, b *api.Backup, h hook.BackupLevelHook, rec *api.BackupHookResult) error {
	if c.Jobs == nil {
		return errors.New("the coordinator has no client for hook Jobs")
	}
	job := hookJob(b, h)
	rec.Job = job.Namespace + "/" + job.Name
	wctx, cancel := context.WithTimeout(ctx, h.Timeout+jobDeadlineGrace)
	defer cancel()
	done, err := c.Jobs.Run(wctx, job)
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		rec.TimedOut = true
		return c.killJob(ctx, job, fmt.Errorf("job %s not finished within the timeout %s: deleted", rec.Job, h.Timeout))
	default:
		return err
	}
	pod, ok, err := c.Jobs.LastPod(ctx, done)
	if err != nil {
		return err
	}
	if ok {
		rec.Pod = pod.Pod
	}
	jobOutcome(done, pod, &rec.HookResult)
	if rec.TimedOut {
		return c.killJob(ctx, done, errors.New(rec.Error))
	}
	return nil
}

// killJob deletes a timed-out hook Job (and its pods), whatever happened
// to ctx, and returns cause with the deletion's error, if any.
func (c *Coordinator) killJob(ctx context.Context, job *batchv1.Job, cause error) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.Jobs.Delete(dctx, job); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}
