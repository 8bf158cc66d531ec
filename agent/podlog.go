package agent

import (
	"context"
	"strings"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/render"
)

// LogStore keeps a pod's backup log with the backup, in the repository,
// so hook output outlives the pod and the cluster's Events.
type LogStore interface {
	PutLog(ctx context.Context, backup, key, text string) error
}

// storedLog is how much of a pod's result its stored log holds: every row
// and hook output, with the pod's UID and freeze start to match node logs.
var storedLog = render.Options{Detail: render.Output, IDs: true}

// podLog renders a pod's final result as the text `quiesce backup logs`
// prints.
func podLog(node string, res api.PodResult) string {
	res.Node = node
	var b strings.Builder
	render.BackupPod(&b, res, storedLog)
	return b.String()
}
