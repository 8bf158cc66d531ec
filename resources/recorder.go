package resources

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Recorder collects a finished Backup's objects and saves them with the
// Backup itself. It is the coordinator's ResourceRecorder.
type Recorder struct {
	Discovery discovery.DiscoveryInterface
	Dynamic   dynamic.Interface
	Store     *RepoStore
	Now       func() time.Time
}

// Record collects the objects of b's scope and stores them with b (its
// status as it ends, with Progress filled in) and its per-pod report. It
// returns the progress to record in b's status and warnings for the types
// that could not be read.
func (r *Recorder) Record(ctx context.Context, b *api.Backup, pods []api.PodResult) (api.BackupProgress, []string, error) {
	items, warnings, err := Collect(ctx, r.Discovery, r.Dynamic, ScopeOf(b))
	if err != nil {
		return api.BackupProgress{}, nil, fmt.Errorf("collect objects: %w", err)
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	doc := &Document{Backup: *b.DeepCopy(), Pods: pods, CollectedAt: now().UTC(), Items: items, Warnings: warnings}
	doc.Backup.Status.Report = api.ReportInRepository
	doc.Backup.APIVersion, doc.Backup.Kind = api.GroupVersion.String(), "Backup"
	doc.Backup.Status.Progress = api.BackupProgress{TotalItems: len(items), ItemsBackedUp: len(items)}
	doc.Backup.Status.Warnings = append(doc.Backup.Status.Warnings, warnings...)
	if err := r.Store.Save(ctx, doc); err != nil {
		return api.BackupProgress{TotalItems: len(items)}, warnings, err
	}
	return doc.Backup.Status.Progress, warnings, nil
}
