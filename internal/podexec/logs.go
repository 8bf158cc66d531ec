package podexec

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// logTailLines is how many of a log's last lines Logs asks for: the
// API server returns a log's head when only a byte limit is given, and
// the end of a hook's log is where it says why it failed.
const logTailLines = 20

// Logs returns the end of a container's log (pods/log): its last lines,
// at most limitBytes of them. The coordinator keeps it as the output of a
// backup-level hook that ran as a Job.
func (e *Execer) Logs(ctx context.Context, ns, pod, container string, limitBytes int64) (string, error) {
	tail := int64(logTailLines)
	raw, err := e.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, TailLines: &tail, LimitBytes: &limitBytes}).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("log of pod %s/%s container %s: %w", ns, pod, container, err)
	}
	return string(raw), nil
}
