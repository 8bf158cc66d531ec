package agent

import (
	"context"
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Hooks runs a pod's hook phases on this node (hookrun over the CRI in
// production, a fake in tests).
type Hooks interface {
	// Freeze runs the pod's pre-hooks in order. ok is false when a hook with
	// onError Fail failed: the pod must not be captured. Whatever ok says,
	// the returned Thaw must be called once: it releases held hooks and runs
	// the post-hooks.
	Freeze(ctx context.Context, backup string, pod *api.PodAssignment) (thaw Thaw, results []api.HookResult, ok bool)
	// ThawOnly runs the post-hooks of a pod frozen by an earlier agent
	// process (found in the journal after a restart).
	ThawOnly(ctx context.Context, backup string, pod *api.PodAssignment) (results []api.HookResult, ok bool)
}

// Thaw ends a freeze; captureOK feeds the post-hooks' `when` condition.
type Thaw func(ctx context.Context, captureOK bool) (results []api.HookResult, ok bool)

// Volumes captures and uploads a pod's volumes (fsbackup in production).
type Volumes interface {
	// Capture copies the pod's volumes while it is frozen: to node-local
	// staging when staged, else straight into the repository. Results carry
	// what is known so far (files, bytes, capture time).
	Capture(ctx context.Context, b BackupRef, pod *api.PodAssignment, staged bool) ([]api.VolumeResult, error)
	// Upload snapshots the staged copies of the pod's volumes into the
	// repository, after the thaw. It works from the staging area alone, so
	// an agent restarted mid-upload can call it again.
	Upload(ctx context.Context, b BackupRef, pod *api.PodAssignment, captured []api.VolumeResult) ([]api.VolumeResult, error)
}

// BackupRef is what the volume engine needs to know of the backup.
type BackupRef struct {
	Name string
	// Expires is when the snapshots may be deleted (zero: never).
	Expires time.Time
}
