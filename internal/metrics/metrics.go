// Package metrics defines quiesce's Prometheus metrics on a registry passed
// in from cmd/ (never the default one), with units in their names and
// low-cardinality labels: no pod or backup names.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Agent holds the agent's metrics.
type Agent struct {
	HookDuration     *prometheus.HistogramVec // labels: phase (pre, post), result (ok, failed, timeout, error)
	FreezeWindow     *prometheus.HistogramVec // labels: pod_namespace (not namespace: Prometheus gives that to the target, the agent)
	ControlOverhead  prometheus.Histogram
	CaptureDuration  *prometheus.HistogramVec // labels: mode (staged, direct)
	UploadDuration   prometheus.Histogram
	CaptureBytes     prometheus.Counter
	CaptureFiles     prometheus.Counter
	UploadedBytes    prometheus.Counter
	PodsFinished     *prometheus.CounterVec // labels: phase (Completed, Failed)
	PodFailures      *prometheus.CounterVec // labels: cause (api.FailureCause)
	ThawedByDeadline prometheus.Counter
	ThawedOnRestart  prometheus.Counter

	// Restore side.
	RestoreBytes    prometheus.Counter
	RestoreDuration prometheus.Histogram
	RestoreHooks    *prometheus.CounterVec // labels: outcome (ok, failed, timeout, skipped)

	// Ready is 1 while the agent holds its node lock and serves its
	// NodeBackups and NodeRestores, 0 before (waiting for the lock, the
	// thaw guard thawing) and after.
	Ready prometheus.Gauge
	// LastMaintenance is the repository's own record of its latest
	// successful maintenance (0: never), as this agent last read it.
	LastMaintenance prometheus.Gauge
}

var hookBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
var longBuckets = []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600}

// NewAgent registers the agent's metrics on reg.
func NewAgent(reg prometheus.Registerer) *Agent {
	m := &Agent{
		HookDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "quiesce_hook_duration_seconds",
			Help: "Duration of hook runs by phase and result.", Buckets: hookBuckets}, []string{"phase", "result"}),
		FreezeWindow: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "quiesce_freeze_window_seconds",
			Help: "Time a pod was frozen: first pre-hook start to last post-hook end, by the pod's namespace.", Buckets: longBuckets},
			[]string{"pod_namespace"}),
		ControlOverhead: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "quiesce_freeze_control_overhead_seconds",
			Help: "Freeze window minus hook and capture time.", Buckets: hookBuckets}),
		CaptureDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "quiesce_capture_duration_seconds",
			Help: "Duration of volume captures inside the freeze.", Buckets: longBuckets}, []string{"mode"}),
		UploadDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "quiesce_upload_duration_seconds",
			Help: "Duration of uploads of staged captures, after thaw.", Buckets: longBuckets}),
		CaptureBytes:  prometheus.NewCounter(prometheus.CounterOpts{Name: "quiesce_capture_bytes_total", Help: "Bytes of volume data captured."}),
		CaptureFiles:  prometheus.NewCounter(prometheus.CounterOpts{Name: "quiesce_capture_files_total", Help: "Files of volume data captured."}),
		UploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "quiesce_uploaded_bytes_total", Help: "Bytes written to the repository."}),
		PodsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quiesce_pod_backups_total",
			Help: "Pod backups finished, by final phase."}, []string{"phase"}),
		PodFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quiesce_pod_backup_failures_total",
			Help: "Failed pod backups, by the cause of the first failure (FreezeDeadline, PreHookFailed, CaptureFailed, ...)."}, []string{"cause"}),
		ThawedByDeadline: prometheus.NewCounter(prometheus.CounterOpts{Name: "quiesce_thawed_by_deadline_total",
			Help: "Pods frozen and thawed because their freeze deadline passed (pre-hooks, group wait or capture overran)."}),
		ThawedOnRestart: prometheus.NewCounter(prometheus.CounterOpts{Name: "quiesce_thawed_on_restart_total",
			Help: "Pods found frozen in the journal at agent start and thawed."}),
		RestoreBytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "quiesce_volume_restore_bytes_total",
			Help: "Bytes of volume data restored from snapshots into restored pods."}),
		RestoreDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "quiesce_volume_restore_duration_seconds",
			Help: "Duration of one volume's restore from its snapshot.", Buckets: longBuckets}),
		RestoreHooks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "quiesce_restore_hooks_total",
			Help: "Post-restore hooks by outcome."}, []string{"outcome"}),
		Ready: prometheus.NewGauge(prometheus.GaugeOpts{Name: "quiesce_agent_ready",
			Help: "1 while the agent holds its node lock and serves its node's NodeBackups and NodeRestores."}),
		LastMaintenance: prometheus.NewGauge(prometheus.GaugeOpts{Name: "quiesce_repository_last_maintenance_timestamp_seconds",
			Help: "End of the repository's latest successful maintenance (quiesce repo maintenance), as recorded in the repository; 0 when it never ran."}),
	}
	reg.MustRegister(m.RestoreBytes, m.RestoreDuration, m.RestoreHooks)
	reg.MustRegister(m.HookDuration, m.FreezeWindow, m.ControlOverhead, m.CaptureDuration, m.UploadDuration,
		m.CaptureBytes, m.CaptureFiles, m.UploadedBytes, m.PodsFinished, m.PodFailures, m.ThawedByDeadline, m.ThawedOnRestart,
		m.Ready, m.LastMaintenance)
	m.initLabels()
	return m
}

// initLabels creates the series of the fixed label values at 0. A counter
// first seen at 1 shows no increase() in Prometheus, so the first failed
// hook or pod would be missed by the alerts and the dashboard.
func (m *Agent) initLabels() {
	for _, phase := range []string{"pre", "post"} {
		for _, result := range []string{"ok", "failed", "timeout", "error"} {
			m.HookDuration.WithLabelValues(phase, result)
		}
	}
	for _, mode := range []string{"staged", "direct"} {
		m.CaptureDuration.WithLabelValues(mode)
	}
	for _, phase := range []string{"Completed", "Failed"} {
		m.PodsFinished.WithLabelValues(phase)
	}
	for _, outcome := range []string{"ok", "failed", "timeout", "skipped"} {
		m.RestoreHooks.WithLabelValues(outcome)
	}
}

// NewRegistry returns a registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
