package agent

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/render"
)

// Event reasons of restores, on pods.
const (
	ReasonRestoreVolumeRestored = "RestoreVolumeRestored"
	ReasonRestoreVolumeFailed   = "RestoreVolumeFailed"
	ReasonRestoreHookRan        = "RestoreHookRan"
	ReasonRestoreHookFailed     = "RestoreHookFailed"
)

// restoreEvents records a pod's restore as Events on the pod (queued and
// sent by the recorder in the background).
func restoreEvents(rec record.EventRecorder, restore string, res api.RestorePodResult) {
	if rec == nil {
		return
	}
	ref := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: res.Namespace, Name: res.Name, UID: types.UID(res.UID)}
	for _, v := range res.Volumes {
		if v.Error != "" {
			rec.Eventf(ref, corev1.EventTypeWarning, ReasonRestoreVolumeFailed, "restore %s: volume %s from snapshot %s: %s", restore, v.Name, v.SnapshotID, v.Error)
		} else {
			rec.Eventf(ref, corev1.EventTypeNormal, ReasonRestoreVolumeRestored, "restore %s: volume %s from snapshot %s: %d files, %s in %s",
				restore, v.Name, v.SnapshotID, v.Files, render.Bytes(v.Bytes), render.Duration(v.Duration.Duration))
		}
	}
	if res.Phase == api.RestorePodFailed && len(res.Volumes) == 0 && res.Reason != "" {
		rec.Eventf(ref, corev1.EventTypeWarning, ReasonRestoreVolumeFailed, "restore %s: %s", restore, res.Reason)
	}
	for _, h := range res.Hooks {
		switch {
		case h.Skipped:
		case h.Failed():
			rec.Eventf(ref, corev1.EventTypeWarning, ReasonRestoreHookFailed, "restore %s: post-restore hook %s in container %s: %s",
				restore, h.Name, h.Container, firstNonEmpty(h.Error, h.Outcome()))
		default:
			rec.Eventf(ref, corev1.EventTypeNormal, ReasonRestoreHookRan, "restore %s: post-restore hook %s in container %s ran in %s",
				restore, h.Name, h.Container, render.Duration(h.Duration.Duration))
		}
	}
}

// restorePodLog renders a pod's final restore result as the text stored in
// the repository for `quiesce restore logs`.
func restorePodLog(node string, res api.RestorePodResult) string {
	res.Node = node
	var b strings.Builder
	render.RestorePod(&b, res, storedLog)
	return b.String()
}
