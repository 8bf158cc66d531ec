package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// LogStore keeps a pod's backup log with the backup, in the repository,
// so hook output outlives the pod and the cluster's Events.
type LogStore interface {
	PutLog(ctx context.Context, backup, key, text string) error
}

// podLog renders a pod's final result as the text `quiesce backup logs`
// prints.
func podLog(node string, res api.PodResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s/%s (uid %s) on node %s: %s\n", res.Namespace, res.Name, res.UID, node, res.Phase)
	if res.Reason != "" {
		fmt.Fprintf(&b, "reason: %s\n", res.Reason)
	}
	if res.FreezeStart != nil && res.Freeze != nil {
		fmt.Fprintf(&b, "frozen %s at %s", res.Freeze.Duration, res.FreezeStart.UTC().Format(time.RFC3339Nano))
		if res.ControlOverhead != nil {
			fmt.Fprintf(&b, " (control overhead %s)", res.ControlOverhead.Duration)
		}
		b.WriteString("\n")
	}
	for _, h := range res.Hooks {
		fmt.Fprintf(&b, "hook %s %s container=%s %s in %s (%s)\n", h.Phase, h.Name, h.Container, h.Outcome(), h.Duration.Duration, h.Source)
		for _, l := range strings.Split(strings.TrimRight(h.Output, "\n"), "\n") {
			if l != "" {
				fmt.Fprintf(&b, "  | %s\n", l)
			}
		}
	}
	for _, v := range res.Volumes {
		fmt.Fprintf(&b, "volume %s snapshot=%s files=%d bytes=%d uploaded=%d capture=%s upload=%s", v.Name, v.SnapshotID,
			v.Files, v.Bytes, v.UploadedBytes, v.Capture.Duration, v.Upload.Duration)
		if v.Error != "" {
			fmt.Fprintf(&b, " error=%s", v.Error)
		}
		b.WriteString("\n")
	}
	return b.String()
}
