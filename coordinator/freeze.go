package coordinator

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/quiesce-dev/quiesce/hook"
)

// AnnFreeze asks the agent to freeze the pod without anything inside it
// (hook.BackupSettings reads it).
const AnnFreeze = hook.AnnFreeze

// freeze is what a pod asks to be frozen by the agent.
type freeze struct {
	pause   []string // containers
	volumes []string // volumes whose filesystems are frozen
}

// freezeOf returns what the pod's settings ask the agent to freeze among
// its containers and its selected volumes vols, and a warning for each
// paused container whose liveness probe would fail within max freeze: the
// kubelet would restart it mid-backup.
func freezeOf(pod *corev1.Pod, set hook.Settings, maxFreeze time.Duration, vols []SelectedVolume) (fz freeze, warnings []string, err error) {
	if set.FreezeFilesystems {
		fz, err := filesystemsOf(pod, vols)
		return fz, nil, err
	}
	for _, c := range pod.Spec.Containers {
		if p := c.LivenessProbe; p != nil && slices.Contains(set.Pause, c.Name) {
			if window := probeWindow(p); maxFreeze > window {
				warnings = append(warnings, fmt.Sprintf("pod %s/%s: container %q is paused during the backup for up to %s (max freeze), but its liveness probe fails after %s (periodSeconds × failureThreshold): the kubelet may restart it mid-backup; raise the probe's failureThreshold or lower %s",
					pod.Namespace, pod.Name, c.Name, maxFreeze, window, AnnMaxFreeze))
			}
		}
	}
	return freeze{pause: set.Pause}, warnings, nil
}

// probeWindow is how long a probe may fail before the kubelet acts, with
// the API's defaults (10s period, 3 failures).
func probeWindow(p *corev1.Probe) time.Duration {
	period, failures := p.PeriodSeconds, p.FailureThreshold
	if period <= 0 {
		period = 10
	}
	if failures <= 0 {
		failures = 3
	}
	return time.Duration(period*failures) * time.Second
}

// filesystemsOf freezes the filesystem of every selected volume. Only a
// claim's volume can be a filesystem of its own: an emptyDir or a hostPath
// lives on the node's disk, and freezing it would freeze the node.
func filesystemsOf(pod *corev1.Pod, vols []SelectedVolume) (freeze, error) {
	var fz freeze
	for _, v := range vols {
		if v.PVC == "" {
			return freeze{}, fmt.Errorf("pod %s/%s: annotation %q=\"filesystem\": volume %q is not a PersistentVolumeClaim, so it shares the node's filesystem and freezing it would freeze the node (use \"containers\", or exclude the volume)", pod.Namespace, pod.Name, AnnFreeze, v.Name)
		}
		fz.volumes = append(fz.volumes, v.Name)
	}
	if len(fz.volumes) == 0 {
		return freeze{}, fmt.Errorf("pod %s/%s: annotation %q=\"filesystem\": the pod backs up no volume to freeze (opt volumes in with backup.velero.io/backup-volumes)", pod.Namespace, pod.Name, AnnFreeze)
	}
	return fz, nil
}
