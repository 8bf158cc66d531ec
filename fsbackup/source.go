package fsbackup

import (
	"fmt"
	"strings"

	"github.com/kopia/kopia/snapshot"
)

// sourceHost is the host of every snapshot source: snapshots belong to the
// workload, not to the node that happened to run the pod.
const sourceHost = "quiesce"

// Source is the stable identity of a volume across pod restarts and
// rescheduling: namespace, owning workload (or PVC name) and volume name.
// Incremental backups find their previous snapshot by Source.
type Source struct {
	Namespace string
	// Workload is the owning workload ("statefulset/db") or, for a PVC-backed
	// volume, the PVC name; anything stable across pod UIDs.
	Workload string
	Volume   string
}

// ParseSource parses "namespace/workload/volume"; the workload part may itself
// contain one slash ("ns/statefulset/db/data").
func ParseSource(s string) (Source, error) {
	parts := strings.Split(s, "/")
	var src Source
	switch len(parts) {
	case 3:
		src = Source{Namespace: parts[0], Workload: parts[1], Volume: parts[2]}
	case 4:
		src = Source{Namespace: parts[0], Workload: parts[1] + "/" + parts[2], Volume: parts[3]}
	default:
		return Source{}, fmt.Errorf("source %q: want namespace/workload/volume", s)
	}
	return src, src.Validate()
}

// Validate checks that every part is set and has no stray slashes.
func (s Source) Validate() error {
	if s.Namespace == "" || s.Workload == "" || s.Volume == "" {
		return fmt.Errorf("source %q: namespace, workload and volume must all be set", s.String())
	}
	if strings.Contains(s.Namespace, "/") || strings.Contains(s.Volume, "/") || strings.Count(s.Workload, "/") > 1 ||
		strings.HasPrefix(s.Workload, "/") || strings.HasSuffix(s.Workload, "/") {
		return fmt.Errorf("source %q: namespace and volume may not contain '/', workload at most one", s.String())
	}
	return nil
}

func (s Source) String() string { return s.Namespace + "/" + s.Workload + "/" + s.Volume }

func (s Source) info() snapshot.SourceInfo {
	return snapshot.SourceInfo{Host: sourceHost, UserName: s.Namespace, Path: "/" + s.String()}
}

func sourceFromInfo(si snapshot.SourceInfo) Source {
	src, err := ParseSource(strings.TrimPrefix(si.Path, "/"))
	if err != nil {
		return Source{Namespace: si.UserName, Workload: si.Host, Volume: si.Path}
	}
	return src
}
