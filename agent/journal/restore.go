package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// RestoreLedger is the node-local record of each restored pod: its volume
// results, and which post-restore hooks were started and how those that
// ended ended. The agent records a hook's start before it execs it, so an
// agent restarted while the hook ran does not run it again: post-restore
// hooks (a schema migration, a cache rebuild) run at most once. Results
// are recorded too, for a restart that came before the status write: a
// pod's volumes, once restored and released, are never restored again,
// and the restarted agent still reports what was restored.
type RestoreLedger struct{ dir string }

// PodRestore is one pod's entry in a NodeRestore (both by UID: a Restore
// deleted and made again under its name is another restore).
type PodRestore struct {
	NodeRestore string    `json:"nodeRestore"`
	PodUID      string    `json:"podUID"`
	Updated     time.Time `json:"updated"`
	// Volumes are the pod's volume results, once all were restored.
	Volumes []api.VolumeRestoreResult `json:"volumes,omitempty"`
	// Started holds each started hook's name by its index in the pod's
	// assignment; Results the results of those that ended.
	Started map[int]string         `json:"started,omitempty"`
	Results map[int]api.HookResult `json:"results,omitempty"`
}

// OpenRestoreLedger creates dir if needed and returns its ledger.
func OpenRestoreLedger(dir string) (*RestoreLedger, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restore ledger %s: %w (the agent's state directory must be writable)", dir, err)
	}
	return &RestoreLedger{dir: dir}, nil
}

func (l *RestoreLedger) path(nodeRestore, podUID string) string {
	return filepath.Join(l.dir, nodeRestore+"_"+podUID+".json")
}

// Get returns a pod's entry, empty (with its keys set) if it has none.
func (l *RestoreLedger) Get(nodeRestore, podUID string) (PodRestore, error) {
	e := PodRestore{NodeRestore: nodeRestore, PodUID: podUID}
	data, err := os.ReadFile(l.path(nodeRestore, podUID))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return e, nil
	case err != nil:
		return e, fmt.Errorf("restore ledger: %w", err)
	}
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("restore ledger: %s is corrupt: %w", l.path(nodeRestore, podUID), err)
	}
	return e, nil
}

// Put records e durably; it returns only once the entry is on disk.
func (l *RestoreLedger) Put(e PodRestore) error {
	if e.NodeRestore == "" || e.PodUID == "" || strings.ContainsAny(e.NodeRestore+e.PodUID, "/_") {
		return fmt.Errorf("restore ledger: noderestore UID %q and pod UID %q must be set and contain no '/' or '_'", e.NodeRestore, e.PodUID)
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("restore ledger: encode: %w", err)
	}
	return writeDurably(l.dir, l.path(e.NodeRestore, e.PodUID), data)
}

// Delete forgets a pod's entry (once its result is in status).
func (l *RestoreLedger) Delete(nodeRestore, podUID string) error {
	if err := os.Remove(l.path(nodeRestore, podUID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("restore ledger: %w", err)
	}
	return nil
}

// Prune removes the entries not updated since before: those of restores
// deleted before their pods' results were seen.
func (l *RestoreLedger) Prune(before time.Time) (int, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return 0, fmt.Errorf("restore ledger: %w", err)
	}
	n := 0
	var errs []error
	for _, de := range entries {
		if de.IsDir() || !strings.HasSuffix(de.Name(), ".json") {
			continue
		}
		info, err := de.Info()
		if err != nil || !info.ModTime().Before(before) {
			continue
		}
		if err := os.Remove(filepath.Join(l.dir, de.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}
