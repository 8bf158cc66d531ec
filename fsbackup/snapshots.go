package fsbackup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kopia/kopia/repo/manifest"
	"github.com/kopia/kopia/snapshot"
)

// Snapshot describes one saved snapshot.
type Snapshot struct {
	ID          string
	Source      Source
	StartTime   time.Time
	EndTime     time.Time
	Files, Dirs int64
	Bytes       int64
	Tags        map[string]string // without quiesce's own keys
	ExpiresAt   time.Time         // zero: never
	Description string
}

func snapshotOf(m *snapshot.Manifest) Snapshot {
	s := Snapshot{ID: string(m.ID), Source: sourceFromInfo(m.Source), StartTime: m.StartTime.ToTime(),
		EndTime: m.EndTime.ToTime(), Files: int64(m.Stats.TotalFileCount), Dirs: int64(m.Stats.TotalDirectoryCount),
		Bytes: m.Stats.TotalFileSize, Tags: map[string]string{}, Description: m.Description}
	if m.RootEntry != nil && m.RootEntry.DirSummary != nil {
		sum := m.RootEntry.DirSummary
		s.Files, s.Dirs, s.Bytes = sum.TotalFileCount, sum.TotalDirCount, sum.TotalFileSize
	}
	for k, v := range m.Tags {
		k = strings.TrimPrefix(k, tagPrefix)
		if k == TagExpiresAt {
			s.ExpiresAt, _ = time.Parse(time.RFC3339, v)
			continue
		}
		s.Tags[k] = v
	}
	return s
}

// Snapshots lists snapshots, oldest first; a zero src lists every source.
func (e *Engine) Snapshots(ctx context.Context, src *Source) ([]Snapshot, error) {
	var si *snapshot.SourceInfo
	if src != nil {
		i := src.info()
		si = &i
	}
	ids, err := snapshot.ListSnapshotManifests(ctx, e.rep, si, nil)
	if err != nil {
		return nil, fmt.Errorf("repository %s: list snapshots: %w", e.cfg.Path, err)
	}
	mans, err := snapshot.LoadSnapshots(ctx, e.rep, ids)
	if err != nil {
		return nil, fmt.Errorf("repository %s: load snapshots: %w", e.cfg.Path, err)
	}
	out := make([]Snapshot, 0, len(mans))
	for _, m := range mans {
		if isResourcesSource(m.Source) {
			continue // a backup's Kubernetes objects (resources.go), not a volume
		}
		out = append(out, snapshotOf(m))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartTime.Before(out[j].StartTime) })
	return out, nil
}

// load reads snapshot id's manifest. A connection sees the manifests of the
// index it last read: a snapshot another node's agent wrote since (a
// restore of a pod rescheduled elsewhere) is found after a refresh.
func (e *Engine) load(ctx context.Context, id string) (*snapshot.Manifest, error) {
	m, err := snapshot.LoadSnapshot(ctx, e.rep, manifest.ID(id))
	if errors.Is(err, snapshot.ErrSnapshotNotFound) {
		if rerr := e.rep.Refresh(ctx); rerr != nil {
			return nil, fmt.Errorf("snapshot %s in %s: not in this connection's view, and refreshing it failed: %w", id, e.cfg.Path, rerr)
		}
		m, err = snapshot.LoadSnapshot(ctx, e.rep, manifest.ID(id))
	}
	if err != nil {
		if errors.Is(err, snapshot.ErrSnapshotNotFound) {
			return nil, fmt.Errorf("snapshot %s in %s: %w", id, e.cfg.Path, ErrSnapshotNotFound)
		}
		return nil, fmt.Errorf("snapshot %s in %s: %w", id, e.cfg.Path, err)
	}
	return m, nil
}
