package coordinator

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Exporter exposes metrics of the Backups themselves. The coordinator is a
// short-lived Job that nothing can scrape, so what outlives it (backups by
// phase, the last successful backup of each schedule) is read from the
// Backup objects at scrape time: no state of its own, nothing to lose.
type Exporter struct {
	Client    client.Client
	Namespace string
	Log       *zap.Logger

	byPhase, lastSuccess, lastDuration, scrapeErrors *prometheus.Desc
	backupHooksFailed, verification                  *prometheus.Desc
	lastBackup                                       *prometheus.Desc
	// Schedules, read from the chart's CronJobs.
	scheduleInterval, scheduleCreated *prometheus.Desc
	// Restores, read the same way.
	restoresByPhase, lastRestore, restoreHooksFailed, restoreScrapeErrors *prometheus.Desc
}

// NewExporter returns an Exporter for the Backups of namespace.
func NewExporter(c client.Client, namespace string, log *zap.Logger) *Exporter {
	return &Exporter{
		Client: c, Namespace: namespace, Log: log,
		byPhase: prometheus.NewDesc("quiesce_backups", "Backups in the namespace, by phase.", []string{"phase"}, nil),
		lastSuccess: prometheus.NewDesc("quiesce_last_successful_backup_timestamp_seconds",
			"Completion time of the newest Completed backup, by schedule (\"\" for backups made by hand).", []string{"schedule"}, nil),
		lastDuration: prometheus.NewDesc("quiesce_last_backup_duration_seconds",
			"Duration of the newest finished backup, by schedule.", []string{"schedule"}, nil),
		lastBackup: prometheus.NewDesc("quiesce_last_backup_completion_timestamp_seconds",
			"Completion time of the newest finished backup, by schedule, with its final phase (Completed, PartiallyFailed, Failed).",
			[]string{"schedule", "phase"}, nil),
		scheduleInterval: prometheus.NewDesc("quiesce_schedule_interval_seconds",
			"Longest time between two runs of a schedule's CronJob (label quiesce.dev/schedule), from its cron expression.", []string{"schedule"}, nil),
		scheduleCreated: prometheus.NewDesc("quiesce_schedule_created_timestamp_seconds",
			"Creation time of a schedule's CronJob: since when a schedule that never succeeded is owed a backup.", []string{"schedule"}, nil),
		backupHooksFailed: prometheus.NewDesc("quiesce_backup_level_hooks_failed",
			"Backup-level hooks (spec.hooks.backup) that failed, summed over the Backups in the namespace, by phase (pre, post).", []string{"phase"}, nil),
		verification: prometheus.NewDesc("quiesce_backup_verification",
			"Backups by the phase of their last verification (quiesce backup verify: Verifying, Passed, Failed); unverified backups are not counted.", []string{"phase"}, nil),
		scrapeErrors:    prometheus.NewDesc("quiesce_exporter_list_errors", "1 when listing the Backups failed on this scrape.", nil, nil),
		restoresByPhase: prometheus.NewDesc("quiesce_restores", "Restores in the namespace, by phase.", []string{"phase"}, nil),
		lastRestore: prometheus.NewDesc("quiesce_restore_last_completion_timestamp_seconds",
			"Completion time of the newest finished restore, by its final phase.", []string{"phase"}, nil),
		restoreHooksFailed: prometheus.NewDesc("quiesce_restore_hooks_failed",
			"Post-restore hooks that failed, summed over the Restores in the namespace.", nil, nil),
		restoreScrapeErrors: prometheus.NewDesc("quiesce_exporter_restore_list_errors", "1 when listing the Restores failed on this scrape.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	ch <- e.byPhase
	ch <- e.lastSuccess
	ch <- e.lastDuration
	ch <- e.lastBackup
	ch <- e.scheduleInterval
	ch <- e.scheduleCreated
	ch <- e.scrapeErrors
	ch <- e.backupHooksFailed
	ch <- e.verification
	ch <- e.restoresByPhase
	ch <- e.lastRestore
	ch <- e.restoreHooksFailed
	ch <- e.restoreScrapeErrors
}

// Collect implements prometheus.Collector.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e.collectRestores(ctx, ch)
	e.collectSchedules(ctx, ch)
	var list api.BackupList
	if err := e.Client.List(ctx, &list, client.InNamespace(e.Namespace)); err != nil {
		e.Log.Warn("list backups for metrics", zap.Error(err))
		ch <- prometheus.MustNewConstMetric(e.scrapeErrors, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(e.scrapeErrors, prometheus.GaugeValue, 0)
	phases := map[string]float64{}
	success := map[string]time.Time{}
	newest := map[string]api.Backup{}
	hooksFailed := map[string]float64{"pre": 0, "post": 0}
	verified := map[api.VerificationPhase]float64{api.VerificationVerifying: 0, api.VerificationPassed: 0, api.VerificationFailed: 0}
	for _, b := range list.Items {
		if v := b.Status.Verification; v != nil {
			verified[v.Phase]++
		}
		for _, r := range b.Status.BackupHooks {
			if r.State == api.BackupHookFailed {
				hooksFailed[r.Phase]++
			}
		}
		phase := string(b.Status.Phase)
		if phase == "" {
			phase = string(api.BackupPhaseNew)
		}
		phases[phase]++
		st, sched := b.Status, b.Labels[LabelSchedule]
		if st.CompletionTimestamp == nil {
			continue
		}
		if st.Phase == api.BackupPhaseCompleted && st.CompletionTimestamp.After(success[sched]) {
			success[sched] = st.CompletionTimestamp.Time
		}
		if n, ok := newest[sched]; !ok || st.CompletionTimestamp.After(n.Status.CompletionTimestamp.Time) {
			newest[sched] = b
		}
	}
	for phase, n := range phases {
		ch <- prometheus.MustNewConstMetric(e.byPhase, prometheus.GaugeValue, n, phase)
	}
	for phase, n := range hooksFailed {
		ch <- prometheus.MustNewConstMetric(e.backupHooksFailed, prometheus.GaugeValue, n, phase)
	}
	for phase, n := range verified {
		ch <- prometheus.MustNewConstMetric(e.verification, prometheus.GaugeValue, n, string(phase))
	}
	for sched, t := range success {
		ch <- prometheus.MustNewConstMetric(e.lastSuccess, prometheus.GaugeValue, float64(t.Unix()), sched)
	}
	for sched, b := range newest {
		ch <- prometheus.MustNewConstMetric(e.lastBackup, prometheus.GaugeValue, float64(b.Status.CompletionTimestamp.Unix()),
			sched, string(b.Status.Phase))
		if b.Status.StartTimestamp != nil {
			d := b.Status.CompletionTimestamp.Sub(b.Status.StartTimestamp.Time).Seconds()
			ch <- prometheus.MustNewConstMetric(e.lastDuration, prometheus.GaugeValue, d, sched)
		}
	}
}

// collectSchedules exposes each schedule's interval and since when it
// exists, so that an alert can tell a schedule whose backups stopped
// succeeding (or never did) from one that is not due yet.
func (e *Exporter) collectSchedules(ctx context.Context, ch chan<- prometheus.Metric) {
	var list batchv1.CronJobList
	if err := e.Client.List(ctx, &list, client.InNamespace(e.Namespace), client.HasLabels{LabelSchedule}); err != nil {
		e.Log.Warn("list schedule cronjobs for metrics", zap.Error(err))
		return
	}
	now := time.Now()
	for _, cj := range list.Items {
		sched := cj.Labels[LabelSchedule]
		interval, err := ScheduleInterval(cj.Spec.Schedule, now)
		if err != nil {
			e.Log.Warn("schedule interval", zap.String("cronJob", cj.Name), zap.Error(err))
			continue
		}
		ch <- prometheus.MustNewConstMetric(e.scheduleInterval, prometheus.GaugeValue, interval.Seconds(), sched)
		ch <- prometheus.MustNewConstMetric(e.scheduleCreated, prometheus.GaugeValue, float64(cj.CreationTimestamp.Unix()), sched)
	}
}

// collectRestores exposes the Restores: by phase, when the newest finished
// one ended (with its phase, so an alert can tell a failed last restore),
// and how many of their post-restore hooks failed.
func (e *Exporter) collectRestores(ctx context.Context, ch chan<- prometheus.Metric) {
	var list api.RestoreList
	if err := e.Client.List(ctx, &list, client.InNamespace(e.Namespace)); err != nil {
		e.Log.Warn("list restores for metrics", zap.Error(err))
		ch <- prometheus.MustNewConstMetric(e.restoreScrapeErrors, prometheus.GaugeValue, 1)
		return
	}
	ch <- prometheus.MustNewConstMetric(e.restoreScrapeErrors, prometheus.GaugeValue, 0)
	phases := map[string]float64{}
	var newest *api.Restore
	hooksFailed := 0
	for i := range list.Items {
		r := &list.Items[i]
		phase := string(r.Status.Phase)
		if phase == "" {
			phase = string(api.RestorePhaseNew)
		}
		phases[phase]++
		hooksFailed += r.Status.HooksFailed
		if end := r.Status.CompletionTimestamp; end != nil && (newest == nil || end.After(newest.Status.CompletionTimestamp.Time)) {
			newest = r
		}
	}
	for phase, n := range phases {
		ch <- prometheus.MustNewConstMetric(e.restoresByPhase, prometheus.GaugeValue, n, phase)
	}
	if newest != nil {
		ch <- prometheus.MustNewConstMetric(e.lastRestore, prometheus.GaugeValue, float64(newest.Status.CompletionTimestamp.Unix()), string(newest.Status.Phase))
	}
	ch <- prometheus.MustNewConstMetric(e.restoreHooksFailed, prometheus.GaugeValue, float64(hooksFailed))
}
