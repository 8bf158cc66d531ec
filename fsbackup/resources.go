package fsbackup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/kopia/kopia/fs"
	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/object"
	"github.com/kopia/kopia/snapshot"
)

// ErrNoResources: the repository holds no Kubernetes objects for a backup.
var ErrNoResources = errors.New("no stored resources")

// A backup's Kubernetes objects are kept as a one-file kopia snapshot of a
// source of its own, not as an object named by a plain manifest: full
// maintenance keeps only the content reachable from snapshot manifests, so
// anything else would be garbage-collected a day after it was written.
// Snapshots hides these sources; Expire deletes them with their backup.
const (
	resourcesHost = "quiesce-resources"
	resourcesUser = "quiesce"
	// ResourcesManifestType names what the snapshot holds (a tag, for the
	// kopia CLI and for Expire).
	ResourcesManifestType = "quiesce-resources"
	tagType               = "type"
)

func resourcesSource(backup string) snapshot.SourceInfo {
	return snapshot.SourceInfo{Host: resourcesHost, UserName: resourcesUser, Path: "/" + backup}
}

// PutResources stores data as the Kubernetes objects of backup. Storing
// again for the same backup adds a newer version; Resources reads the newest.
func (e *Engine) PutResources(ctx context.Context, backup string, data []byte) error {
	return e.PutResourcesExpiring(ctx, backup, data, time.Time{})
}

// PutResourcesExpiring is PutResources with the backup's expiry: Expire
// deletes the data after it (zero: when the backup's last volume snapshot
// expires).
func (e *Engine) PutResourcesExpiring(ctx context.Context, backup string, data []byte, expiresAt time.Time) error {
	if err := e.healthy(); err != nil {
		return err
	}
	if backup == "" {
		return errors.New("store resources: backup name is empty")
	}
	start := e.clock()
	err := repo.WriteSession(ctx, e.rep, repo.WriteSessionOptions{Purpose: "quiesce resources " + backup},
		func(ctx context.Context, w repo.RepositoryWriter) error {
			ow := w.NewObjectWriter(ctx, object.WriterOptions{
				Description: "quiesce resources " + backup,
				Compressor:  compressionName(e.resourcesCompression()),
			})
			defer ow.Close() //nolint:errcheck
			if _, err := ow.Write(data); err != nil {
				return fmt.Errorf("write object: %w", err)
			}
			oid, err := ow.Result()
			if err != nil {
				return fmt.Errorf("write object: %w", err)
			}
			end := e.clock()
			man := &snapshot.Manifest{
				Source:      resourcesSource(backup),
				Description: "Kubernetes objects of backup " + backup,
				StartTime:   fs.UTCTimestampFromTime(start),
				EndTime:     fs.UTCTimestampFromTime(end),
				RootEntry: &snapshot.DirEntry{
					Name: backup + ".json.gz", Type: snapshot.EntryTypeFile, ObjectID: oid,
					FileSize: int64(len(data)), ModTime: fs.UTCTimestampFromTime(end), Permissions: 0o600,
				},
				Tags: map[string]string{tagPrefix + tagType: ResourcesManifestType, tagPrefix + TagBackup: backup},
			}
			if !expiresAt.IsZero() {
				man.Tags[tagPrefix+TagExpiresAt] = expiresAt.UTC().Format(time.RFC3339)
			}
			if _, err := snapshot.SaveSnapshot(ctx, w, man); err != nil {
				return fmt.Errorf("save manifest: %w", err)
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("repository %s: store resources of backup %s: %w", e.cfg.Path, backup, err)
	}
	return nil
}

// resourcesCompression is the engine's compressor, else kopia's s2 (the
// data is usually gzip'd already; kopia keeps whichever form is smaller).
func (e *Engine) resourcesCompression() string {
	if e.Compression != "" {
		return e.Compression
	}
	return "s2-default"
}

// Resources returns the newest data stored by PutResources for backup, or
// an error wrapping ErrNoResources.
func (e *Engine) Resources(ctx context.Context, backup string) ([]byte, error) {
	mans, err := e.resourcesManifests(ctx, backup)
	if err != nil {
		return nil, err
	}
	if len(mans) == 0 {
		return nil, fmt.Errorf("backup %s has no stored resources: it was made before quiesce stored objects, or its upload failed: %w",
			backup, ErrNoResources)
	}
	newest := mans[0]
	for _, m := range mans[1:] {
		if m.StartTime.After(newest.StartTime) {
			newest = m
		}
	}
	r, err := e.rep.OpenObject(ctx, newest.RootObjectID())
	if err != nil {
		return nil, fmt.Errorf("repository %s: resources of backup %s (object %s): %w", e.cfg.Path, backup, newest.RootObjectID(), err)
	}
	defer r.Close() //nolint:errcheck
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return nil, fmt.Errorf("repository %s: read resources of backup %s: %w", e.cfg.Path, backup, err)
	}
	return buf.Bytes(), nil
}

func (e *Engine) resourcesManifests(ctx context.Context, backup string) ([]*snapshot.Manifest, error) {
	si := resourcesSource(backup)
	mans, err := snapshot.ListSnapshots(ctx, e.rep, si)
	if err != nil {
		return nil, fmt.Errorf("repository %s: find resources of backup %s: %w", e.cfg.Path, backup, err)
	}
	return mans, nil
}

// ResourceBackups lists the backups with stored resources.
func (e *Engine) ResourceBackups(ctx context.Context) ([]string, error) {
	srcs, err := snapshot.ListSources(ctx, e.rep)
	if err != nil {
		return nil, fmt.Errorf("repository %s: list sources: %w", e.cfg.Path, err)
	}
	var out []string
	for _, s := range srcs {
		if isResourcesSource(s) {
			out = append(out, s.Path[1:])
		}
	}
	return out, nil
}

func isResourcesSource(si snapshot.SourceInfo) bool {
	return si.Host == resourcesHost && si.UserName == resourcesUser && len(si.Path) > 1
}

// expireResources deletes, in w, the stored resources past their own
// expiry, and those of the backups that had snapshots in expired and have
// none left in kept. It returns the backups that are gone: those, and the
// ones whose resources it deleted.
func (e *Engine) expireResources(ctx context.Context, w repo.RepositoryWriter, now time.Time, expired, kept []Snapshot) (map[string]bool, error) {
	left := map[string]bool{}
	for _, s := range kept {
		left[s.Tags[TagBackup]] = true
	}
	gone := map[string]bool{}
	for _, s := range expired {
		if b := s.Tags[TagBackup]; b != "" && !left[b] {
			gone[b] = true
		}
	}
	srcs, err := snapshot.ListSources(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	removed := map[string]bool{}
	for _, si := range srcs {
		if !isResourcesSource(si) {
			continue
		}
		backup := si.Path[1:]
		mans, err := snapshot.ListSnapshots(ctx, w, si)
		if err != nil {
			return nil, fmt.Errorf("find resources of backup %s: %w", backup, err)
		}
		for _, m := range mans {
			exp, _ := time.Parse(time.RFC3339, m.Tags[tagPrefix+TagExpiresAt])
			if !gone[backup] && (exp.IsZero() || exp.After(now)) {
				continue
			}
			if err := w.DeleteManifest(ctx, m.ID); err != nil {
				return nil, fmt.Errorf("delete resources %s of backup %s: %w", m.ID, backup, err)
			}
			removed[backup] = true
		}
	}
	maps.Copy(gone, removed)
	return gone, nil
}
