package render

import (
	"fmt"
	"io"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// BackupHooks writes the results of a Backup's backup-level hooks
// (spec.hooks.backup), a row each, with the error and, at Output detail,
// the output excerpt:
//
//	pre announce pod=shop/db-0 container=db: Succeeded, exit 0 in 12ms (spec spec.hooks.backup.pre[0])
//	post alert: Skipped (when OnFailure, and the backup is Completed)
func BackupHooks(w io.Writer, rs []api.BackupHookResult, o Options) {
	for _, r := range rs {
		row := r.Phase + " " + r.Name
		if r.Job != "" {
			row += " job=" + r.Job
		}
		if r.Pod != "" {
			row += " pod=" + r.Pod + " container=" + orDash(r.Container)
		}
		switch r.State {
		case api.BackupHookSkipped:
			row += ": Skipped (" + r.Reason + ")"
		case api.BackupHookRunning:
			row += fmt.Sprintf(": Running (attempt %d)", r.Attempts)
		default:
			row += fmt.Sprintf(": %s, %s in %s", r.State, r.Outcome(), Duration(r.Duration.Duration))
			if r.Attempts > 1 {
				row += fmt.Sprintf(", attempt %d", r.Attempts)
			}
		}
		if r.Source != "" && r.State != api.BackupHookSkipped {
			row += " (" + r.Source + ")"
		}
		fmt.Fprintf(w, "%s%s\n", o.Indent, row)
		if o.Detail >= Output && r.State != api.BackupHookSkipped {
			excerpt(w, o.Indent+"  | ", r.Output)
		}
	}
}
