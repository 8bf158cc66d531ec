package fsbackup

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/kopia/kopia/repo"
)

// Backup logs are small documents kept in the repository next to the
// snapshots, so a backup's hook output and outcome outlive its pods and the
// cluster's Events.
const logManifestType = "quiesce-log"

// LogEntry is one stored log document.
type LogEntry struct {
	Backup string    `json:"backup"`
	Key    string    `json:"key"` // e.g. "node-a/shop/db-0"
	Time   time.Time `json:"time"`
	Text   string    `json:"text"`
}

// PutLog stores text as the log of key in backup.
func (e *Engine) PutLog(ctx context.Context, backup, key, text string) error {
	if err := e.healthy(); err != nil {
		return err
	}
	entry := LogEntry{Backup: backup, Key: key, Time: e.clock(), Text: text}
	labels := map[string]string{"type": logManifestType, "backup": backup, "key": key}
	err := repo.WriteSession(ctx, e.rep, repo.WriteSessionOptions{Purpose: "quiesce log " + backup},
		func(ctx context.Context, w repo.RepositoryWriter) error {
			_, err := w.PutManifest(ctx, labels, &entry)
			return err
		})
	if err != nil {
		return fmt.Errorf("store log of backup %s (%s): %w", backup, key, err)
	}
	return nil
}

// Logs returns the stored logs of backup, by key.
func (e *Engine) Logs(ctx context.Context, backup string) ([]LogEntry, error) {
	mds, err := e.rep.FindManifests(ctx, map[string]string{"type": logManifestType, "backup": backup})
	if err != nil {
		return nil, fmt.Errorf("find logs of backup %s: %w", backup, err)
	}
	out := make([]LogEntry, 0, len(mds))
	for _, md := range mds {
		var le LogEntry
		if _, err := e.rep.GetManifest(ctx, md.ID, &le); err != nil {
			return nil, fmt.Errorf("read log %s of backup %s: %w", md.ID, backup, err)
		}
		out = append(out, le)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (e *Engine) clock() time.Time {
	if e.now != nil {
		return e.now()
	}
	return time.Now()
}

// expireLogs deletes, in w, the logs of backups.
func expireLogs(ctx context.Context, w repo.RepositoryWriter, backups map[string]bool) error {
	for b := range backups {
		mds, err := w.FindManifests(ctx, map[string]string{"type": logManifestType, "backup": b})
		if err != nil {
			return fmt.Errorf("find logs of backup %s: %w", b, err)
		}
		for _, md := range mds {
			if err := w.DeleteManifest(ctx, md.ID); err != nil {
				return fmt.Errorf("delete log %s of backup %s: %w", md.ID, b, err)
			}
		}
	}
	return nil
}
