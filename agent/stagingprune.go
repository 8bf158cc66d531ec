package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// A staged copy is kept after its upload, for the pod's next incremental
// capture: without pruning, every pod a node ever backed up would keep a
// full copy of its volumes there. pruneStaging removes the copies of pods
// that are gone from the node and have no journal record (a record means
// an upload may still read the copy: a pod deleted mid-upload keeps it
// until its backup ends).

// stagingPruneEvery is how often the staging area is pruned besides at
// start.
const stagingPruneEvery = 10 * time.Minute

// stalePodCopies returns the entries of a staging directory ("<source>@<pod
// UID>", see stagingDir) whose pod keep does not keep; names of another
// shape are left alone.
func stalePodCopies(names []string, keep func(podUID string) bool) []string {
	var stale []string
	for _, n := range names {
		i := strings.LastIndexByte(n, '@')
		if i < 0 || i == len(n)-1 {
			continue
		}
		if !keep(n[i+1:]) {
			stale = append(stale, n)
		}
	}
	return stale
}

// PruneStaging removes the staged copies of the pods keep does not keep
// and returns the directories removed.
func (f *FSVolumes) PruneStaging(keep func(podUID string) bool) ([]string, error) {
	ents, err := os.ReadDir(f.StagingRoot)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("staging area %s: %w", f.StagingRoot, err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	var removed []string
	var errs []error
	for _, n := range stalePodCopies(names, keep) {
		dir := filepath.Join(f.StagingRoot, n)
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove stale staged copy %s: %w", dir, err))
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

// stagingPruner is implemented by Volumes that keep staged copies.
type stagingPruner interface {
	PruneStaging(keep func(podUID string) bool) ([]string, error)
}

// pruneStagingLoop prunes at start and every stagingPruneEvery until ctx
// ends. A pod is kept while PodOnNode says it is on the node or the
// journal holds a record of it.
func (a *Agent) pruneStagingLoop(ctx context.Context) {
	p, ok := a.Volumes.(stagingPruner)
	if !ok || a.PodOnNode == nil {
		return
	}
	for {
		a.pruneStaging(p)
		select {
		case <-ctx.Done():
			return
		case <-time.After(stagingPruneEvery):
		}
	}
}

func (a *Agent) pruneStaging(p stagingPruner) {
	recs, err := a.Journal.List()
	if err != nil {
		// An unreadable record may stand for a pod whose upload needs its
		// copy: prune nothing rather than guess.
		a.Log.Warn("staging not pruned: the journal has unreadable records", zap.Error(err))
		return
	}
	journalled := map[string]bool{}
	for _, r := range recs {
		journalled[r.PodUID] = true
	}
	removed, err := p.PruneStaging(func(uid string) bool { return journalled[uid] || a.PodOnNode(uid) })
	for _, d := range removed {
		a.Log.Info("removed the staged copy of a pod gone from the node", zap.String("dir", d))
	}
	if err != nil {
		a.Log.Warn("staging prune", zap.Error(err))
	}
}
