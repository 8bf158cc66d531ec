package coordinator

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zaptest"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func withHooks(b *api.Backup, rs ...api.BackupHookResult) *api.Backup {
	b.Status.BackupHooks = rs
	return b
}

func verified(b *api.Backup, phase api.VerificationPhase) *api.Backup {
	b.Status.Verification = &api.BackupVerification{Phase: phase}
	return b
}

func TestExporter(t *testing.T) {
	at := func(s int64) *metav1.Time { tm := metav1.NewTime(time.Unix(s, 0)); return &tm }
	backup := func(name, sched string, phase api.BackupPhase, start, end int64) *api.Backup {
		b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: name, Labels: map[string]string{}},
			Status: api.BackupStatus{Phase: phase}}
		if sched != "" {
			b.Labels[LabelSchedule] = sched
		}
		if end > 0 {
			b.Status.StartTimestamp, b.Status.CompletionTimestamp = at(start), at(end)
		}
		return b
	}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(
		backup("n1", "nightly", api.BackupPhaseCompleted, 1000, 1060),
		backup("n2", "nightly", api.BackupPhaseCompleted, 2000, 2030),
		backup("n3", "nightly", api.BackupPhasePartiallyFailed, 3000, 3100),
		backup("h1", "", api.BackupPhaseFailed, 500, 510),
		backup("r1", "nightly", api.BackupPhaseInProgress, 0, 0),
		withHooks(backup("h2", "", api.BackupPhaseFailed, 600, 610),
			api.BackupHookResult{HookResult: api.HookResult{Name: "gate", Phase: "pre", ExitCode: 1}, State: api.BackupHookFailed},
			api.BackupHookResult{HookResult: api.HookResult{Name: "report", Phase: "post"}, State: api.BackupHookSucceeded}),
		verified(backup("v1", "nightly", api.BackupPhaseCompleted, 100, 110), api.VerificationPassed),
		verified(backup("v2", "nightly", api.BackupPhaseCompleted, 200, 210), api.VerificationFailed),
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "quiesce-nightly",
			Labels: map[string]string{LabelSchedule: "nightly"}, CreationTimestamp: *at(50)},
			Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *"}},
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "quiesce-runner"},
			Spec: batchv1.CronJobSpec{Schedule: "@yearly"}}, // not a schedule: no label
	).Build()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewExporter(c, "quiesce", zaptest.NewLogger(t)))
	want := `
# HELP quiesce_backups Backups in the namespace, by phase.
# TYPE quiesce_backups gauge
quiesce_backups{phase="Completed"} 4
quiesce_backups{phase="Failed"} 2
quiesce_backups{phase="InProgress"} 1
quiesce_backups{phase="PartiallyFailed"} 1
# HELP quiesce_last_successful_backup_timestamp_seconds Completion time of the newest Completed backup, by schedule ("" for backups made by hand).
# TYPE quiesce_last_successful_backup_timestamp_seconds gauge
quiesce_last_successful_backup_timestamp_seconds{schedule="nightly"} 2030
# HELP quiesce_last_backup_duration_seconds Duration of the newest finished backup, by schedule.
# TYPE quiesce_last_backup_duration_seconds gauge
quiesce_last_backup_duration_seconds{schedule=""} 10
quiesce_last_backup_duration_seconds{schedule="nightly"} 100
# HELP quiesce_last_backup_completion_timestamp_seconds Completion time of the newest finished backup, by schedule, with its final phase (Completed, PartiallyFailed, Failed).
# TYPE quiesce_last_backup_completion_timestamp_seconds gauge
quiesce_last_backup_completion_timestamp_seconds{phase="Failed",schedule=""} 610
quiesce_last_backup_completion_timestamp_seconds{phase="PartiallyFailed",schedule="nightly"} 3100
# HELP quiesce_schedule_interval_seconds Longest time between two runs of a schedule's CronJob (label quiesce.dev/schedule), from its cron expression.
# TYPE quiesce_schedule_interval_seconds gauge
quiesce_schedule_interval_seconds{schedule="nightly"} 86400
# HELP quiesce_schedule_created_timestamp_seconds Creation time of a schedule's CronJob: since when a schedule that never succeeded is owed a backup.
# TYPE quiesce_schedule_created_timestamp_seconds gauge
quiesce_schedule_created_timestamp_seconds{schedule="nightly"} 50
# HELP quiesce_backup_level_hooks_failed Backup-level hooks (spec.hooks.backup) that failed, summed over the Backups in the namespace, by phase (pre, post).
# TYPE quiesce_backup_level_hooks_failed gauge
quiesce_backup_level_hooks_failed{phase="post"} 0
quiesce_backup_level_hooks_failed{phase="pre"} 1
# HELP quiesce_backup_verification Backups by the phase of their last verification (quiesce backup verify: Verifying, Passed, Failed); unverified backups are not counted.
# TYPE quiesce_backup_verification gauge
quiesce_backup_verification{phase="Failed"} 1
quiesce_backup_verification{phase="Passed"} 1
quiesce_backup_verification{phase="Verifying"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "quiesce_backups",
		"quiesce_last_successful_backup_timestamp_seconds", "quiesce_last_backup_duration_seconds", "quiesce_backup_level_hooks_failed",
		"quiesce_last_backup_completion_timestamp_seconds", "quiesce_schedule_interval_seconds", "quiesce_schedule_created_timestamp_seconds",
		"quiesce_backup_verification"); err != nil {
		t.Fatal(err)
	}
}
