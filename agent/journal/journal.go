// Package journal is the agent's node-local record of each pod's backup
// phase. The agent writes a pod's phase here before acting on it (before its
// pre-hooks start, before its thaw), so that an agent restarted while pods
// are frozen finds them and thaws them first, without asking the API server.
//
// One small JSON file per pod, replaced atomically (write, fsync, rename,
// fsync the directory): a crash leaves either the old record or the new one.
// The restore side's RestoreLedger keeps its files the same way.
package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/quiesce-dev/quiesce/agent/phase"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Record is one pod's entry.
type Record struct {
	Backup    string      `json:"backup"`
	Namespace string      `json:"namespace"`
	Pod       string      `json:"pod"`
	PodUID    string      `json:"podUID"`
	Phase     phase.Phase `json:"phase"`
	ThawBy    time.Time   `json:"thawBy,omitempty"`
	// Cause and Reason are the pod's first failure, if any.
	Cause   api.FailureCause `json:"cause,omitempty"`
	Reason  string           `json:"reason,omitempty"`
	Updated time.Time        `json:"updated"`
	// NodeBackup and Assignment are what a restarted agent needs to thaw
	// the pod and finish its upload without asking the API server.
	NodeBackup string             `json:"nodeBackup,omitempty"`
	Staged     bool               `json:"staged,omitempty"`
	Expires    time.Time          `json:"expires,omitempty"`
	Assignment *api.PodAssignment `json:"assignment,omitempty"`
	Captured   []api.VolumeResult `json:"captured,omitempty"`
	// Result is the pod's final result, kept until the NodeBackup status
	// shows it, so a restart re-reports rather than redoes the pod.
	Result *api.PodResult `json:"result,omitempty"`
}

// Journal is a directory of records.
type Journal struct{ dir string }

// Open creates dir if needed and returns its journal.
func Open(dir string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal %s: %w (the agent's state directory must be writable)", dir, err)
	}
	return &Journal{dir: dir}, nil
}

func (j *Journal) path(backup, podUID string) string {
	return filepath.Join(j.dir, backup+"_"+podUID+".json")
}

// Put records r durably; it returns only once the record is on disk.
func (j *Journal) Put(r Record) error {
	if r.Backup == "" || r.PodUID == "" || strings.ContainsAny(r.Backup+r.PodUID, "/_") {
		return fmt.Errorf("journal: record for pod %s/%s: backup %q and pod UID %q must be set and contain no '/' or '_'", r.Namespace, r.Pod, r.Backup, r.PodUID)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("journal: encode %s/%s: %w", r.Namespace, r.Pod, err)
	}
	return writeDurably(j.dir, j.path(r.Backup, r.PodUID), data)
}

// writeDurably replaces the file final in dir with data: write, fsync,
// rename, fsync the directory. A crash leaves the old file or the new one.
func writeDurably(dir, final string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("journal: write %s: %w", final, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("journal: sync %s: %w", final, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("journal: close %s: %w", final, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return syncDir(dir)
}

// Get returns the record of a pod in a backup; ok is false if there is none.
func (j *Journal) Get(backup, podUID string) (r Record, ok bool, err error) {
	data, err := os.ReadFile(j.path(backup, podUID))
	if errors.Is(err, os.ErrNotExist) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("journal: %w", err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, false, fmt.Errorf("journal: %s is corrupt: %w (delete it only after checking the pod is thawed)", j.path(backup, podUID), err)
	}
	return r, true, nil
}

// List returns every record, oldest update first. A corrupt record is
// returned as an error after the readable ones, never skipped silently: it
// may stand for a frozen pod.
func (j *Journal) List() ([]Record, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var out []Record
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		backup, uid, ok := strings.Cut(strings.TrimSuffix(name, ".json"), "_")
		if !ok {
			continue
		}
		r, found, err := j.Get(backup, uid)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if found {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Updated.Before(out[b].Updated) })
	return out, errors.Join(errs...)
}

// Frozen returns the records of pods that may still be frozen.
func (j *Journal) Frozen() ([]Record, error) {
	all, err := j.List()
	var out []Record
	for _, r := range all {
		if r.Phase.Frozen() {
			out = append(out, r)
		}
	}
	return out, err
}

// Delete forgets a pod's record (once its backup is final and reported).
func (j *Journal) Delete(backup, podUID string) error {
	if err := os.Remove(j.path(backup, podUID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", dir, err)
	}
	return nil
}
