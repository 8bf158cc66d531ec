package coordinator

import (
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// AnnFreeze asks the agent to freeze the pod without anything inside it:
// "containers" pauses every app container through the runtime around the
// capture, "containers:a,b" only those named.
const AnnFreeze = "backup.quiesce.dev/freeze"

// freezeOf returns the containers the pod asks to be paused (nil when it
// asks for none), and a warning for each whose liveness probe would fail
// while paused for max freeze: the kubelet would restart it mid-backup.
func freezeOf(pod *corev1.Pod, maxFreeze time.Duration) (pause, warnings []string, err error) {
	raw, ok := pod.Annotations[AnnFreeze]
	if !ok {
		return nil, nil, nil
	}
	var all []string
	for _, c := range pod.Spec.Containers {
		all = append(all, c.Name)
	}
	v := strings.TrimSpace(raw)
	mode, list, hasList := strings.Cut(v, ":")
	switch {
	case mode == "containers" && !hasList:
		pause = all
	case mode == "containers":
		for _, n := range strings.Split(list, ",") {
			n = strings.TrimSpace(n)
			if !slices.Contains(all, n) {
				return nil, nil, fmt.Errorf("pod %s/%s: annotation %q=%q: the pod has no container %q (its containers: %s)", pod.Namespace, pod.Name, AnnFreeze, raw, n, strings.Join(all, ", "))
			}
			if !slices.Contains(pause, n) {
				pause = append(pause, n)
			}
		}
	case mode == "filesystem":
		return nil, nil, fmt.Errorf("pod %s/%s: annotation %q=%q: filesystem freeze is not available in this version; use \"containers\" (pause the pod's containers through the runtime)", pod.Namespace, pod.Name, AnnFreeze, raw)
	default:
		return nil, nil, fmt.Errorf("pod %s/%s: annotation %q=%q: unknown freeze mode (use \"containers\" for all the pod's containers, or \"containers:NAME,...\")", pod.Namespace, pod.Name, AnnFreeze, raw)
	}
	for _, c := range pod.Spec.Containers {
		if p := c.LivenessProbe; p != nil && slices.Contains(pause, c.Name) {
			if window := probeWindow(p); maxFreeze > window {
				warnings = append(warnings, fmt.Sprintf("pod %s/%s: container %q is paused during the backup for up to %s (max freeze), but its liveness probe fails after %s (periodSeconds × failureThreshold): the kubelet may restart it mid-backup; raise the probe's failureThreshold or lower %s",
					pod.Namespace, pod.Name, c.Name, maxFreeze, window, AnnMaxFreeze))
			}
		}
	}
	return pause, warnings, nil
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
