package coordinator

import (
	"context"
	"errors"
	"fmt"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quiesce-dev/quiesce/internal/kwait"
)

// HookJobs runs the Jobs of backup-level hooks (the job form): the effects
// of that form, so that what to run and what its outcome means stay in
// the coordinator, tested without a Job controller. KubeJobs is the
// implementation.
type HookJobs interface {
	// Run creates job, or adopts the Job of its name that an earlier
	// coordinator of the same Backup created, and waits until it is
	// finished (Complete or Failed). It returns the Job as last read, or
	// ctx's error when ctx ends first (the Job is left as it is).
	Run(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error)
	// LastPod reads the outcome of the Job's last pod; ok is false when it
	// has none (deleted, or never started).
	LastPod(ctx context.Context, job *batchv1.Job) (pod JobPod, ok bool, err error)
	// Delete deletes the Job with propagation Background: its pods are
	// deleted (killed) too. A Job already gone is not an error.
	Delete(ctx context.Context, job *batchv1.Job) error
}

// PodLogs reads the tail of a container's log (pods/log); podexec.Execer
// implements it.
type PodLogs interface {
	Logs(ctx context.Context, namespace, pod, container string, limitBytes int64) (string, error)
}

// JobConflictError: a Job of the hook's name exists and was not created
// for this Backup; it is neither adopted nor deleted.
type JobConflictError struct {
	Namespace, Name string
	// UID is the Backup UID the Job carries ("" when none).
	UID string
}

func (e *JobConflictError) Error() string {
	return fmt.Sprintf("job %s/%s exists and is not this backup's (its %s is %q): delete it, or rename the hook",
		e.Namespace, e.Name, AnnBackupUID, e.UID)
}

// errJobGone: the Job was deleted while the hook waited on it.
var errJobGone = errors.New("deleted while the hook ran")

// KubeJobs runs hook Jobs through the API server.
type KubeJobs struct {
	Client client.WithWatch
	// Logs reads the last pod's log for the output excerpt; nil keeps none.
	Logs PodLogs
}

// logExcerptBytes is how much of a hook pod's log is read: the excerpt
// kept is its tail (hookOutputExcerpt), with room for a last long line.
const logExcerptBytes = 4 * hookOutputExcerpt

// Run implements HookJobs.
func (k *KubeJobs) Run(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	cur, err := k.ensure(ctx, job)
	if err != nil {
		return nil, err
	}
	key := client.ObjectKeyFromObject(job)
	err = kwait.Until(ctx, func(ctx context.Context) ([]watch.Interface, error) {
		w, err := k.Client.Watch(ctx, &batchv1.JobList{}, client.InNamespace(key.Namespace),
			&client.ListOptions{Raw: &metav1.ListOptions{FieldSelector: "metadata.name=" + key.Name, ResourceVersion: kwait.FromCache}})
		if err != nil {
			return nil, fmt.Errorf("watch job %s: %w", key, err)
		}
		return []watch.Interface{w}, nil
	}, func(ctx context.Context) (bool, kwait.Seen, error) {
		if err := k.Client.Get(ctx, key, cur); err != nil {
			if apierrors.IsNotFound(err) {
				return false, nil, fmt.Errorf("job %s: %w", key, errJobGone)
			}
			return false, nil, fmt.Errorf("read job %s: %w", key, err)
		}
		seen := kwait.Seen{}
		seen.Add(cur)
		return jobFinished(cur) != nil, seen, nil
	})
	if err != nil {
		return nil, err
	}
	return cur, nil
}

// ensure creates job or, when a Job of its name exists, adopts it if it
// was made for the same Backup (AnnBackupUID).
func (k *KubeJobs) ensure(ctx context.Context, job *batchv1.Job) (*batchv1.Job, error) {
	cur := job.DeepCopy()
	err := k.Client.Create(ctx, cur)
	if err == nil || !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return nil, fmt.Errorf("create job %s/%s: %w", job.Namespace, job.Name, err)
		}
		return cur, nil
	}
	if err := k.Client.Get(ctx, client.ObjectKeyFromObject(job), cur); err != nil {
		return nil, fmt.Errorf("read existing job %s/%s: %w", job.Namespace, job.Name, err)
	}
	if uid := cur.Annotations[AnnBackupUID]; uid != job.Annotations[AnnBackupUID] {
		return nil, &JobConflictError{Namespace: job.Namespace, Name: job.Name, UID: uid}
	}
	return cur, nil
}

// LastPod implements HookJobs. The log is best effort: a pod whose log
// cannot be read (its node gone, no pods/log right) still has its exit
// code.
func (k *KubeJobs) LastPod(ctx context.Context, job *batchv1.Job) (JobPod, bool, error) {
	var pods corev1.PodList
	if err := k.Client.List(ctx, &pods, client.InNamespace(job.Namespace),
		client.MatchingLabels{batchv1.ControllerUidLabel: string(job.UID)}); err != nil {
		return JobPod{}, false, fmt.Errorf("list the pods of job %s/%s: %w", job.Namespace, job.Name, err)
	}
	p, ok := lastJobPod(pods.Items)
	if !ok || k.Logs == nil || p.Container == "" {
		return p, ok, nil
	}
	ns, name, _ := strings.Cut(p.Pod, "/")
	if out, err := k.Logs.Logs(ctx, ns, name, p.Container, logExcerptBytes); err == nil {
		p.Output = out
	}
	return p, true, nil
}

// Delete implements HookJobs.
func (k *KubeJobs) Delete(ctx context.Context, job *batchv1.Job) error {
	err := k.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete job %s/%s: %w", job.Namespace, job.Name, err)
	}
	return nil
}
