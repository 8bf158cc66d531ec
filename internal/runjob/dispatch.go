package runjob

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Dispatcher starts the Job of every Backup and Restore that nothing has
// started: one applied with kubectl, as Velero users do, would otherwise
// stay New forever. The CLI starts its own at once; Grace leaves it (and an
// in-process --run-here, which marks the object InProgress) the time to.
// It also ends, Failed with the Job's reason, a Backup or Restore left
// InProgress by a Job that failed for good (its retries spent): nothing
// else would ever finish it.
type Dispatcher struct {
	Client    client.Client
	Namespace string
	Log       *zap.Logger
	// Grace is how old a New object must be (default 20s); Every is the
	// period of the scan (default 10s).
	Grace, Every time.Duration
	Now          func() time.Time
}

// Run scans until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	every := d.Every
	if every <= 0 {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		d.Scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Scan starts the Jobs of the New Backups and Restores older than Grace.
func (d *Dispatcher) Scan(ctx context.Context) {
	now, grace := time.Now(), d.Grace
	if d.Now != nil {
		now = d.Now()
	}
	if grace <= 0 {
		grace = 20 * time.Second
	}
	due := func(o client.Object, phase string) bool {
		return (phase == "" || phase == "New") && now.Sub(o.GetCreationTimestamp().Time) >= grace
	}
	var backups api.BackupList
	if err := d.Client.List(ctx, &backups, client.InNamespace(d.Namespace)); err != nil {
		d.Log.Warn("list backups to dispatch", zap.Error(err))
	}
	for i := range backups.Items {
		b := &backups.Items[i]
		switch {
		case due(b, string(b.Status.Phase)):
			d.start(ctx, ForBackup(b.Name), zap.String("backup", b.Name))
		case b.Status.Phase == api.BackupPhaseInProgress:
			if reason := d.jobFailed(ctx, ForBackup(b.Name)); reason != "" {
				d.fail(ctx, b, zap.String("backup", b.Name), func() {
					b.Status.Phase = api.BackupPhaseFailed
					b.Status.Errors = append(b.Status.Errors, reason)
					b.Status.CompletionTimestamp = ptrTime(now)
				})
			}
		}
	}
	var restores api.RestoreList
	if err := d.Client.List(ctx, &restores, client.InNamespace(d.Namespace)); err != nil {
		d.Log.Warn("list restores to dispatch", zap.Error(err))
	}
	for i := range restores.Items {
		r := &restores.Items[i]
		switch {
		case due(r, string(r.Status.Phase)):
			d.start(ctx, ForRestore(r.Name), zap.String("restore", r.Name))
		case r.Status.Phase == api.RestorePhaseInProgress:
			if reason := d.jobFailed(ctx, ForRestore(r.Name)); reason != "" {
				d.fail(ctx, r, zap.String("restore", r.Name), func() {
					r.Status.Phase = api.RestorePhaseFailed
					r.Status.FailureReason = reason
					r.Status.Errors = append(r.Status.Errors, reason)
					r.Status.CompletionTimestamp = ptrTime(now)
				})
			}
		}
	}
}

// jobFailed returns why the object's Job failed for good, or "".
func (d *Dispatcher) jobFailed(ctx context.Context, s Spec) string {
	var job batchv1.Job
	if err := d.Client.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: s.JobName()}, &job); err != nil {
		return "" // not there (a --run-here run) or not readable now
	}
	for _, c := range job.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return fmt.Sprintf("its job %s/%s failed for good (%s: %s) before finishing it; its log: kubectl -n %s logs job/%s",
				d.Namespace, job.Name, c.Reason, c.Message, d.Namespace, job.Name)
		}
	}
	return ""
}

// fail applies set to obj and writes its status.
func (d *Dispatcher) fail(ctx context.Context, obj client.Object, who zap.Field, set func()) {
	set()
	if err := d.Client.Status().Update(ctx, obj); err != nil {
		d.Log.Warn("mark Failed after its job failed", who, zap.Error(err))
		return
	}
	d.Log.Warn("marked Failed: its job failed for good", who)
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

func (d *Dispatcher) start(ctx context.Context, s Spec, who zap.Field) {
	job, err := Start(ctx, d.Client, d.Namespace, s)
	switch {
	case apierrors.IsAlreadyExists(err):
		// Started already (its runner has not marked it yet), or its Job
		// failed for good: the Job's status says which.
	case err != nil:
		d.Log.Warn("start the job of an object nothing started", who, zap.Error(err))
	default:
		d.Log.Info("started the job of an object created without the CLI", who, zap.String("job", job.Name))
	}
}
