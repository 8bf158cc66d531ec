package agent

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/render"
)

// Event reasons on pods.
const (
	ReasonHookRan          = "BackupHookRan"
	ReasonHookFailed       = "BackupHookFailed"
	ReasonHookTimedOut     = "BackupHookTimedOut"
	ReasonThawed           = "Thawed"
	ReasonThawedByDeadline = "ThawedByDeadline"
	ReasonBackedUp         = "VolumesBackedUp"
	ReasonBackupFailed     = "VolumeBackupFailed"
)

// podEvents records a pod's backup as Events on the pod. The recorder
// queues and sends them in the background, so nothing here waits on the API
// server.
func podEvents(rec record.EventRecorder, backup string, res api.PodResult) {
	if rec == nil {
		return
	}
	ref := &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: res.Namespace, Name: res.Name, UID: types.UID(res.UID)}
	for _, h := range res.Hooks {
		switch {
		case h.Skipped, h.Held: // a held hook's release record speaks for it
		case h.TimedOut:
			rec.Eventf(ref, corev1.EventTypeWarning, ReasonHookTimedOut, "backup %s: %s-hook %s in container %s timed out after %s",
				backup, h.Phase, h.Name, h.Container, render.Duration(h.Duration.Duration))
		case h.Failed():
			rec.Eventf(ref, corev1.EventTypeWarning, ReasonHookFailed, "backup %s: %s-hook %s in container %s failed: %s",
				backup, h.Phase, h.Name, h.Container, firstNonEmpty(h.Error, fmt.Sprintf("exit code %d", h.ExitCode)))
		default:
			rec.Eventf(ref, corev1.EventTypeNormal, ReasonHookRan, "backup %s: %s-hook %s in container %s ran in %s",
				backup, h.Phase, h.Name, h.Container, render.Duration(h.Duration.Duration))
		}
	}
	if res.Freeze != nil {
		if thawedByDeadline(res) {
			rec.Eventf(ref, corev1.EventTypeWarning, ReasonThawedByDeadline, "backup %s: %s", backup, res.Reason)
		} else {
			rec.Eventf(ref, corev1.EventTypeNormal, ReasonThawed, "backup %s: frozen for %s", backup, render.Duration(res.Freeze.Duration))
		}
	}
	if res.Phase == api.PodCompleted {
		var bytes int64
		for _, v := range res.Volumes {
			bytes += v.Bytes
		}
		rec.Eventf(ref, corev1.EventTypeNormal, ReasonBackedUp, "backup %s: %d volume(s), %s", backup, len(res.Volumes), render.Bytes(bytes))
	} else {
		rec.Eventf(ref, corev1.EventTypeWarning, ReasonBackupFailed, "backup %s: %s", backup, res.Reason)
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
