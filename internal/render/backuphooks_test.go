package render

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// A hook of the job form names its Job, then the pod it ran in; durations
// are rounded.
func TestBackupHooksJobForm(t *testing.T) {
	var sb strings.Builder
	BackupHooks(&sb, []api.BackupHookResult{{
		HookResult: api.HookResult{Name: "snap", Phase: "pre", Container: "cli", ExitCode: 3, Duration: metav1.Duration{Duration: 1234567 * time.Microsecond},
			Source: "spec spec.hooks.backup.pre[0]"},
		State: api.BackupHookFailed, Job: "ops/b-pre-snap-1a2b3c4d", Pod: "ops/b-pre-snap-1a2b3c4d-x1", Attempts: 1,
	}}, Options{Indent: "  "})
	want := "  pre snap job=ops/b-pre-snap-1a2b3c4d pod=ops/b-pre-snap-1a2b3c4d-x1 container=cli: Failed, exit 3 in 1.2s (spec spec.hooks.backup.pre[0])\n"
	if sb.String() != want {
		t.Errorf("got  %q\nwant %q", sb.String(), want)
	}
}
