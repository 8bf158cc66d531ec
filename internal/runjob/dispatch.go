package runjob

import (
	"context"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Dispatcher starts the Job of every Backup and Restore that nothing has
// started: one applied with kubectl, as Velero users do, would otherwise
// stay New forever. The CLI starts its own at once; Grace leaves it (and an
// in-process --run-here, which marks the object InProgress) the time to.
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
		if b := &backups.Items[i]; due(b, string(b.Status.Phase)) {
			d.start(ctx, ForBackup(b.Name), zap.String("backup", b.Name))
		}
	}
	var restores api.RestoreList
	if err := d.Client.List(ctx, &restores, client.InNamespace(d.Namespace)); err != nil {
		d.Log.Warn("list restores to dispatch", zap.Error(err))
	}
	for i := range restores.Items {
		if r := &restores.Items[i]; due(r, string(r.Status.Phase)) {
			d.start(ctx, ForRestore(r.Name), zap.String("restore", r.Name))
		}
	}
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
