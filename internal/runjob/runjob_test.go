package runjob

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func runner() *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "quiesce-runner",
			Labels: map[string]string{"app.kubernetes.io/component": "coordinator", RunnerLabel: "true"}},
		Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "coordinator", Args: []string{"--repo=/r"}}}},
		}}}},
	}
}

func TestDispatcherStartsWhatNothingStarted(t *testing.T) {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = api.AddToScheme(s)
	now := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	at := func(age time.Duration) metav1.Time { return metav1.NewTime(now.Add(-age)) }
	objs := []client.Object{
		runner(),
		&api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "applied", CreationTimestamp: at(time.Minute)}},
		&api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "fresh", CreationTimestamp: at(time.Second)}},
		&api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "running", CreationTimestamp: at(time.Hour)},
			Status: api.RestoreStatus{Phase: api.RestorePhaseInProgress}},
		&api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "nightly-1", CreationTimestamp: at(time.Minute)}},
		&api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "done", CreationTimestamp: at(time.Hour)},
			Status: api.BackupStatus{Phase: api.BackupPhaseCompleted}},
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(&api.Restore{}, &api.Backup{}).Build()
	d := &Dispatcher{Client: c, Namespace: "quiesce", Log: zap.NewNop(), Now: func() time.Time { return now }}
	d.Scan(t.Context())
	d.Scan(t.Context()) // the second scan finds the Jobs: no error, no twin

	var jobs batchv1.JobList
	if err := c.List(t.Context(), &jobs, client.InNamespace("quiesce")); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, j := range jobs.Items {
		got[j.Name] = strings.Join(j.Spec.Template.Spec.Containers[0].Args, " ")
	}
	want := map[string]string{
		"quiesce-restore-applied": "restore run applied --namespace=quiesce --repo=/r",
		"quiesce-nightly-1":       "coordinator --backup=nightly-1 --namespace=quiesce --repo=/r",
	}
	if len(got) != len(want) {
		t.Fatalf("jobs %v, want %v", got, want)
	}
	for name, args := range want {
		if got[name] != args {
			t.Errorf("job %s args %q, want %q", name, got[name], args)
		}
	}
}

func TestStartWithoutRunnerSaysWhatToDo(t *testing.T) {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	c := fake.NewClientBuilder().WithScheme(s).Build()
	_, err := Start(t.Context(), c, "quiesce", ForBackup("b1"))
	if err == nil || !strings.Contains(err.Error(), "install or upgrade the chart") {
		t.Fatalf("Start without a runner CronJob: %v", err)
	}
}

// A Restore or Backup whose Job failed for good is ended Failed with the
// Job's reason; one whose Job still runs is left alone.
func TestDispatcherFailsWhatAFailedJobLeftInProgress(t *testing.T) {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = api.AddToScheme(s)
	failed := func(name string) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: name},
			Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
				Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit"}}}}
	}
	objs := []client.Object{
		&api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "r1"}, Status: api.RestoreStatus{Phase: api.RestorePhaseInProgress}},
		failed("quiesce-restore-r1"),
		&api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1"}, Status: api.BackupStatus{Phase: api.BackupPhaseInProgress}},
		failed("quiesce-b1"),
		&api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b2"}, Status: api.BackupStatus{Phase: api.BackupPhaseInProgress}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "quiesce-b2"}},
	}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).WithStatusSubresource(&api.Restore{}, &api.Backup{}).Build()
	(&Dispatcher{Client: c, Namespace: "quiesce", Log: zap.NewNop()}).Scan(t.Context())

	var r api.Restore
	if err := c.Get(t.Context(), client.ObjectKey{Namespace: "quiesce", Name: "r1"}, &r); err != nil {
		t.Fatal(err)
	}
	if r.Status.Phase != api.RestorePhaseFailed || !strings.Contains(r.Status.FailureReason, "quiesce-restore-r1 failed for good (BackoffLimitExceeded") ||
		r.Status.CompletionTimestamp == nil {
		t.Errorf("restore r1 = %s %q: want Failed with the job's reason", r.Status.Phase, r.Status.FailureReason)
	}
	var b1, b2 api.Backup
	_ = c.Get(t.Context(), client.ObjectKey{Namespace: "quiesce", Name: "b1"}, &b1)
	_ = c.Get(t.Context(), client.ObjectKey{Namespace: "quiesce", Name: "b2"}, &b2)
	if b1.Status.Phase != api.BackupPhaseFailed || len(b1.Status.Errors) != 1 || !strings.Contains(b1.Status.Errors[0], "kubectl -n quiesce logs job/quiesce-b1") {
		t.Errorf("backup b1 = %s %q: want Failed with the job's reason", b1.Status.Phase, b1.Status.Errors)
	}
	if b2.Status.Phase != api.BackupPhaseInProgress {
		t.Errorf("backup b2 = %s: its job still runs, it must be left alone", b2.Status.Phase)
	}
}
