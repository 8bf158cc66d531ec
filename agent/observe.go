package agent

import (
	"time"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/metrics"
)

// thawedByDeadline reports whether a pod was frozen and thawed because its
// freeze deadline passed. The metric and the Event both ask this.
func thawedByDeadline(res api.PodResult) bool {
	return res.Freeze != nil && res.Cause == api.CauseFreezeDeadline
}

// observePod counts a pod's final result in the agent's metrics; m may be
// nil. captureTime is the capture's share of the freeze window.
func observePod(m *metrics.Agent, staged bool, captureTime time.Duration, res api.PodResult) {
	if m == nil {
		return
	}
	m.PodsFinished.WithLabelValues(string(res.Phase)).Inc()
	if res.Cause != "" {
		m.PodFailures.WithLabelValues(string(res.Cause)).Inc()
	}
	if thawedByDeadline(res) {
		m.ThawedByDeadline.Inc()
	}
	if res.Cause == api.CauseAgentRestarted {
		m.ThawedOnRestart.Inc()
	}
	if res.Freeze != nil {
		m.FreezeWindow.WithLabelValues(res.Namespace).Observe(res.Freeze.Duration.Seconds())
	}
	if res.ControlOverhead != nil {
		m.ControlOverhead.Observe(res.ControlOverhead.Duration.Seconds())
	}
	mode := "direct"
	if staged {
		mode = "staged"
	}
	if captureTime > 0 {
		m.CaptureDuration.WithLabelValues(mode).Observe(captureTime.Seconds())
	}
	for _, h := range res.Hooks {
		result := "ok"
		switch {
		case h.Skipped, h.Held: // a release record follows a held one
			continue
		case h.TimedOut:
			result = "timeout"
		case h.Error != "" && h.ExitCode == 0:
			result = "error"
		case h.ExitCode != 0:
			result = "failed"
		}
		m.HookDuration.WithLabelValues(h.Phase, result).Observe(h.Duration.Duration.Seconds())
	}
	for _, v := range res.Volumes {
		m.CaptureBytes.Add(float64(v.Bytes))
		m.CaptureFiles.Add(float64(v.Files))
		m.UploadedBytes.Add(float64(v.UploadedBytes))
		if staged && v.Upload.Duration > 0 {
			m.UploadDuration.Observe(v.Upload.Duration.Seconds())
		}
	}
}
