package coordinator

import (
	"context"
	"time"

	"go.uber.org/zap"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// ResourceRecorder stores a finished Backup's Kubernetes objects next to
// its volume data, so a Restore can recreate them. resources.Recorder is
// the implementation; cmd/ wires it to the repository.
type ResourceRecorder interface {
	// Record collects the objects of b's scope and stores them with b (whose
	// status is final) and its per-pod report. Warnings name what could not
	// be read.
	Record(ctx context.Context, b *api.Backup, pods []api.PodResult) (api.BackupProgress, []string, error)
	// Check opens the repository the agents will upload to. It runs before
	// anything is frozen: a backup whose data cannot be stored (a wrong
	// password, storage missing) fails at once instead of freezing pods
	// whose uploads all fail after the thaw.
	Check(ctx context.Context) error
}

// recorded is the outcome of one Record call, applied to every retry of
// the final status write.
type recorded struct {
	progress api.BackupProgress
	warnings []string
	err      error
}

// record stores the objects of b as it will end, with status st and the
// per-pod report pods.
func (c *Coordinator) record(ctx context.Context, b *api.Backup, st *api.BackupStatus, pods []api.PodResult, log *zap.Logger) *recorded {
	fin := b.DeepCopy()
	fin.Status = *st.DeepCopy()
	start := time.Now()
	p, warnings, err := c.Resources.Record(ctx, fin, pods)
	if err != nil {
		log.Warn("objects not stored", zap.Error(err), zap.Duration("duration", time.Since(start)))
	} else {
		log.Info("objects stored", zap.Int("items", p.ItemsBackedUp), zap.Int("warnings", len(warnings)),
			zap.Duration("duration", time.Since(start)))
	}
	return &recorded{progress: p, warnings: warnings, err: err}
}

// apply writes the outcome into st. A failure to store the objects leaves
// the volume data intact, so it makes a Completed backup PartiallyFailed,
// not Failed.
func (r *recorded) apply(st *api.BackupStatus) {
	st.Progress = r.progress
	st.Warnings = append(st.Warnings, r.warnings...)
	if r.err == nil {
		st.Report = api.ReportInRepository
	}
	if r.err != nil {
		st.Errors = append(st.Errors, "store the backup's Kubernetes objects in the repository: "+r.err.Error())
		if st.Phase == api.BackupPhaseCompleted {
			st.Phase = api.BackupPhasePartiallyFailed
		}
	}
}
