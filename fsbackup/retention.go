package fsbackup

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/maintenance"
	"github.com/kopia/kopia/repo/manifest"
	"github.com/kopia/kopia/snapshot/snapshotmaintenance"
)

// Expire deletes the manifests of snapshots whose expiry (BackupOptions.ExpiresAt)
// is at or before now and returns their IDs, with the stored resources of
// backups past their expiry or left without snapshots (resources.go), and
// those backups' logs. Their data is reclaimed by the next full
// maintenance.
func (e *Engine) Expire(ctx context.Context, now time.Time) ([]string, error) {
	if err := e.healthy(); err != nil {
		return nil, err
	}
	snaps, err := e.Snapshots(ctx, nil)
	if err != nil {
		return nil, err
	}
	var expired []string
	var gone, kept []Snapshot
	for _, s := range snaps {
		if !s.ExpiresAt.IsZero() && !s.ExpiresAt.After(now) {
			expired = append(expired, s.ID)
			gone = append(gone, s)
		} else {
			kept = append(kept, s)
		}
	}
	err = repo.WriteSession(ctx, e.rep, repo.WriteSessionOptions{Purpose: "quiesce expire"},
		func(ctx context.Context, w repo.RepositoryWriter) error {
			for _, id := range expired {
				if err := w.DeleteManifest(ctx, manifest.ID(id)); err != nil {
					return fmt.Errorf("delete snapshot %s: %w", id, err)
				}
			}
			backups, err := e.expireResources(ctx, w, now, gone, kept)
			if err != nil {
				return err
			}
			return expireLogs(ctx, w, backups)
		})
	if err != nil {
		return nil, fmt.Errorf("repository %s: expire: %w", e.cfg.Path, err)
	}
	return expired, nil
}

// ErrNotMaintenanceOwner: maintenance belongs to another identity.
var ErrNotMaintenanceOwner = errors.New("not the maintenance owner")

// Maintenance runs quick (or full) maintenance as owner, which must match the
// owner recorded in the repository: kopia's maintenance lock is a local file,
// so a single owner identity is what keeps two nodes from running it at once.
// It is safe while backups run (kopia's full safety margins are used).
func (e *Engine) Maintenance(ctx context.Context, owner string, full bool) error {
	if err := e.healthy(); err != nil {
		return err
	}
	if owner == "" {
		owner = DefaultMaintenanceOwner
	}
	dr, ok := e.rep.(repo.DirectRepository)
	if !ok {
		return fmt.Errorf("repository %s: maintenance needs direct access", e.cfg.Path)
	}
	p, err := maintenance.GetParams(ctx, dr)
	if err != nil {
		return fmt.Errorf("repository %s: maintenance params: %w", e.cfg.Path, err)
	}
	if p.Owner != owner {
		return fmt.Errorf("repository %s: maintenance is owned by %q, this is %q (run it where the owner runs, or pass --owner %q): %w",
			e.cfg.Path, p.Owner, owner, p.Owner, ErrNotMaintenanceOwner)
	}
	mode := maintenance.ModeQuick
	if full {
		mode = maintenance.ModeFull
	}
	err = repo.DirectWriteSession(ctx, dr, repo.WriteSessionOptions{Purpose: "quiesce maintenance"},
		func(ctx context.Context, w repo.DirectRepositoryWriter) error {
			// force: the owner check above replaces kopia's, which compares
			// against the connection's user@host.
			return snapshotmaintenance.Run(ctx, w, mode, true, maintenance.SafetyFull)
		})
	if err != nil {
		return fmt.Errorf("repository %s: %s maintenance: %w", e.cfg.Path, mode, err)
	}
	return e.healthy()
}
