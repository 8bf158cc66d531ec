package coordinator

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap/zaptest"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/hook"
)

// fakeLogs answers every pods/log read with the pod's name.
type fakeLogs struct{}

func (fakeLogs) Logs(_ context.Context, ns, pod, container string, _ int64) (string, error) {
	return "log of " + ns + "/" + pod + " " + container + "\n", nil
}

// actAsJobController plays the Job controller for the hook Jobs of c until
// ctx ends. A Job's first container's image says what happens: "exit-N"
// runs a pod that exits N, and the Job ends Complete (N = 0) or Failed
// (BackoffLimitExceeded); "deadline" ends Failed with DeadlineExceeded and
// no exit code; anything else runs for ever.
func actAsJobController(t *testing.T, ctx context.Context, c client.WithWatch) {
	t.Helper()
	w, err := c.Watch(ctx, &batchv1.JobList{})
	if err != nil {
		t.Fatal(err)
	}
	var existing batchv1.JobList
	if err := c.List(ctx, &existing); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer w.Stop()
		for i := range existing.Items {
			finishJob(t, ctx, c, &existing.Items[i])
		}
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-w.ResultChan():
				if j, ok := ev.Object.(*batchv1.Job); ok && ev.Type == watch.Added {
					finishJob(t, ctx, c, j)
				}
			}
		}
	}()
	t.Cleanup(wg.Wait)
}

func finishJob(t *testing.T, ctx context.Context, c client.Client, j *batchv1.Job) {
	image := j.Spec.Template.Spec.Containers[0].Image
	now := metav1.Now()
	var cond batchv1.JobCondition
	switch {
	case image == "deadline":
		cond = batchv1.JobCondition{Type: batchv1.JobFailed, Reason: batchv1.JobReasonDeadlineExceeded, Message: "Job was active longer than specified deadline"}
	case strings.HasPrefix(image, "exit-"):
		code, _ := strconv.Atoi(strings.TrimPrefix(image, "exit-"))
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: j.Namespace, Name: j.Name + "-x1",
			Labels: map[string]string{batchv1.ControllerUidLabel: string(j.UID)}}, Spec: j.Spec.Template.Spec,
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: j.Spec.Template.Spec.Containers[0].Name,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code)}}}}}}
		if err := c.Create(ctx, pod); err != nil && ctx.Err() == nil {
			t.Error(err)
		}
		cond = batchv1.JobCondition{Type: batchv1.JobComplete}
		if code != 0 {
			cond = batchv1.JobCondition{Type: batchv1.JobFailed, Reason: batchv1.JobReasonBackoffLimitExceeded, Message: "Job has reached the specified backoff limit"}
		}
	default:
		return
	}
	cond.Status, cond.LastTransitionTime = corev1.ConditionTrue, now
	j = j.DeepCopy()
	j.Status.Conditions = append(j.Status.Conditions, cond)
	if err := c.Status().Update(ctx, j); err != nil && ctx.Err() == nil {
		t.Error(err)
	}
}

// jobClient is a fake client with the Backup and the interceptors given;
// Job status is a subresource, as on a real API server.
func jobClient(t *testing.T, b *api.Backup, funcs interceptor.Funcs, objs ...client.Object) client.WithWatch {
	return fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(append(objs, b)...).
		WithStatusSubresource(&api.Backup{}, &api.NodeBackup{}, &batchv1.Job{}).WithInterceptorFuncs(funcs).Build()
}

func jobCoordinator(t *testing.T, c client.WithWatch, events record.EventRecorder) *Coordinator {
	return &Coordinator{Client: c, Log: zaptest.NewLogger(t), AgentNamespace: "quiesce", Events: events,
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: time.Minute, Jobs: &KubeJobs{Client: c, Logs: fakeLogs{}}}
}

func getBackup(t *testing.T, c client.Client, name string) *api.Backup {
	t.Helper()
	var b api.Backup
	if err := c.Get(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: name}, &b); err != nil {
		t.Fatal(err)
	}
	return &b
}

func jobs(t *testing.T, c client.Client) []batchv1.Job {
	t.Helper()
	var l batchv1.JobList
	if err := c.List(t.Context(), &l); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// The Job's name is fixed by the Backup (UID included) and the hook, a
// DNS-1123 label of at most 63 characters whatever the names.
func TestHookJobName(t *testing.T) {
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "nightly-20261206020000", UID: "u1"}}
	h := hook.BackupLevelHook{Hook: hook.Hook{Name: "pre[0]", Phase: hook.PreBackup}}
	n := hookJobName(b, h)
	if n != hookJobName(b.DeepCopy(), h) || !strings.HasPrefix(n, "nightly-20261206020000-pre-pre-0-") || !dnsLabel.MatchString(n) {
		t.Errorf("name %q: want stable, readable and a DNS label", n)
	}
	other := b.DeepCopy()
	other.UID = "u2"
	post := h
	post.Phase = hook.PostBackup
	if hookJobName(other, h) == n || hookJobName(b, post) == n {
		t.Errorf("a new Backup of the same name, or the other phase, gets the same Job name %q", n)
	}
	long := &api.Backup{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 70), UID: "u"}}
	if n := hookJobName(long, hook.BackupLevelHook{Hook: hook.Hook{Name: "-x-", Phase: hook.PostBackup}}); len(n) > 63 || !dnsLabel.MatchString(n) {
		t.Errorf("long name %q (%d)", n, len(n))
	}
}

const snapHook = `
backup:
  pre:
    - name: snap
      namespace: ops
      timeout: 90s
      job:
        template:
          metadata: {labels: {team: ops}}
          spec: {containers: [{name: cli, image: exit-0}]}
`

// A coordinator stopped while its pre hook's Job runs leaves the record
// Running; the next one adopts the same Job (no second one), waits for it
// and records its outcome, pod, exit code and log.
func TestJobHookRunsOnceAcrossRestart(t *testing.T) {
	b := hookedBackup(t, "b-job", snapHook)
	var creates int
	c := jobClient(t, b, interceptor.Funcs{Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
		if _, ok := obj.(*batchv1.Job); ok {
			creates++
		}
		return c.Create(ctx, obj, opts...)
	}})
	log := zaptest.NewLogger(t)

	// The first coordinator: no Job controller yet, stopped once the Job exists.
	ctx1, stop := context.WithCancel(t.Context())
	first := jobCoordinator(t, c, nil)
	done := make(chan error, 1)
	go func() { _, err := first.preBackupHooks(ctx1, getBackup(t, c, "b-job"), log); done <- err }()
	w, err := c.Watch(t.Context(), &batchv1.JobList{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs(t, c)) == 0 {
		<-w.ResultChan()
	}
	w.Stop()
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("first coordinator: %v, want canceled", err)
	}
	if r := recordOf(getBackup(t, c, "b-job"), "pre", "snap"); r.State != api.BackupHookRunning || r.Job == "" {
		t.Fatalf("after the stop: %+v, want Running with its Job", r)
	}

	// The second one, with the Job controller at work.
	actAsJobController(t, t.Context(), c)
	events := record.NewFakeRecorder(10)
	failed, err := jobCoordinator(t, c, events).preBackupHooks(t.Context(), getBackup(t, c, "b-job"), log)
	if err != nil || failed {
		t.Fatalf("second coordinator: failed %v, %v", failed, err)
	}
	js := jobs(t, c)
	if len(js) != 1 || creates != 2 {
		t.Fatalf("%d jobs after %d creates, want 1 (the second create found the first)", len(js), creates)
	}
	j := js[0]
	r := recordOf(getBackup(t, c, "b-job"), "pre", "snap")
	if r.State != api.BackupHookSucceeded || r.Attempts != 2 || r.Job != "ops/"+j.Name || r.Pod != "ops/"+j.Name+"-x1" ||
		r.Container != "cli" || r.ExitCode != 0 || r.Output != "log of ops/"+j.Name+"-x1 cli" {
		t.Errorf("record %+v", r)
	}
	spec := j.Spec
	if j.Namespace != "ops" || j.Labels[api.LabelBackup] != "b-job" || j.Annotations[AnnBackupUID] != "b-job-uid" ||
		*spec.ActiveDeadlineSeconds != 90 || *spec.TTLSecondsAfterFinished != 3600 || *spec.BackoffLimit != 0 ||
		spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever || spec.Template.Labels["team"] != "ops" ||
		spec.Template.Labels[api.LabelBackup] != "b-job" {
		t.Errorf("job %+v", j)
	}
	if evs := strings.Join(drain(events), "\n"); !strings.Contains(evs, "Normal BackupLevelHookRan backup-level pre-hook snap as job ops/"+j.Name+" (pod ops/"+j.Name+"-x1 container cli) ran") {
		t.Errorf("events:\n%s", evs)
	}
}

// A Job of the hook's name made for another Backup is neither adopted nor
// deleted: the hook fails, saying so.
func TestJobHookDoesNotAdoptAnotherBackupsJob(t *testing.T) {
	b := hookedBackup(t, "b-job", snapHook)
	pre, _, err := hook.BackupLevelHooks(backupObject(b), &b.Spec.Hooks)
	if err != nil {
		t.Fatal(err)
	}
	alien := hookJob(b, pre[0])
	alien.Annotations[AnnBackupUID] = "someone-else"
	c := jobClient(t, b, interceptor.Funcs{}, alien)
	if _, err := jobCoordinator(t, c, nil).preBackupHooks(t.Context(), getBackup(t, c, "b-job"), zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	r := recordOf(getBackup(t, c, "b-job"), "pre", "snap")
	var conflict *JobConflictError
	if _, err := (&KubeJobs{Client: c}).Run(t.Context(), hookJob(b, pre[0])); !errors.As(err, &conflict) {
		t.Errorf("Run = %v, want a JobConflictError", err)
	}
	if r.State != api.BackupHookFailed || !strings.Contains(r.Error, "is not this backup's") || len(jobs(t, c)) != 1 {
		t.Errorf("record %+v, jobs %d", r, len(jobs(t, c)))
	}
}

// A hook Job that outlives its timeout is deleted, with propagation
// Background so that its pod is killed: by the coordinator when the Job
// controller has not failed it in time, and after the controller's
// DeadlineExceeded too.
func TestJobHookTimeoutDeletesTheJob(t *testing.T) {
	for _, image := range []string{"hang", "deadline"} {
		t.Run(image, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := hookedBackup(t, "b-slow", fmt.Sprintf(`
backup:
  pre:
    - {name: slow, namespace: ops, timeout: 10s, onError: Continue, job: {template: {spec: {containers: [{name: c, image: %s}]}}}}
`, image))
				var deleted []string
				c := jobClient(t, b, interceptor.Funcs{Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
					var o client.DeleteOptions
					o.ApplyOptions(opts)
					if o.PropagationPolicy != nil {
						deleted = append(deleted, obj.GetName()+" "+string(*o.PropagationPolicy))
					}
					return c.Delete(ctx, obj, opts...)
				}})
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				actAsJobController(t, ctx, c)
				start := time.Now()
				failed, err := jobCoordinator(t, c, nil).preBackupHooks(ctx, getBackup(t, c, "b-slow"), zaptest.NewLogger(t))
				if err != nil || failed {
					t.Fatalf("failed %v, %v (onError Continue)", failed, err)
				}
				r := recordOf(getBackup(t, c, "b-slow"), "pre", "slow")
				name := strings.TrimPrefix(r.Job, "ops/")
				if r.State != api.BackupHookFailed || !r.TimedOut || !slices.Equal(deleted, []string{name + " Background"}) || len(jobs(t, c)) != 0 {
					t.Errorf("record %+v, deleted %q, jobs left %d", r, deleted, len(jobs(t, c)))
				}
				if image == "hang" && (time.Since(start) != 10*time.Second+jobDeadlineGrace || !strings.Contains(r.Error, "not finished within the timeout 10s: deleted")) {
					t.Errorf("gave up after %s with %q, want the timeout plus %s", time.Since(start), r.Error, jobDeadlineGrace)
				}
				if image == "deadline" && r.Error != "job ops/"+name+": DeadlineExceeded: Job was active longer than specified deadline" {
					t.Errorf("error %q", r.Error)
				}
				cancel()
			})
		})
	}
}

// A pre hook Job that fails with onError Fail fails the Backup before any
// pod is frozen; the post hooks are gated by when (the OnSuccess one makes
// no Job) and their Jobs run; the exit code of the Job's pod is the outcome.
func TestJobHookPreFailFailsTheBackup(t *testing.T) {
	b := hookedBackup(t, "b-jfail", `
backup:
  pre:
    - {name: gate, namespace: ops, job: {template: {spec: {containers: [{name: c, image: exit-3}]}}}}
  post:
    - {name: alert, namespace: ops, when: OnFailure, job: {template: {spec: {containers: [{name: c, image: exit-0}]}}}}
    - {name: cheer, namespace: ops, when: OnSuccess, job: {template: {spec: {containers: [{name: c, image: exit-0}]}}}}
`)
	c := jobClient(t, b, interceptor.Funcs{}, agentPod("node-a"))
	actAsJobController(t, t.Context(), c)
	got, err := jobCoordinator(t, c, nil).Run(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: "b-jfail"})
	if err != nil {
		t.Fatal(err)
	}
	st := got.Status
	if st.Phase != api.BackupPhaseFailed || st.Planned || st.CompletionTimestamp == nil {
		t.Errorf("phase %s planned %v", st.Phase, st.Planned)
	}
	gate, alert, cheer := recordOf(got, "pre", "gate"), recordOf(got, "post", "alert"), recordOf(got, "post", "cheer")
	if gate.State != api.BackupHookFailed || gate.ExitCode != 3 || gate.Error != "" {
		t.Errorf("gate %+v, want exit 3", gate)
	}
	if alert.State != api.BackupHookSucceeded || cheer.State != api.BackupHookSkipped || cheer.Job != "" {
		t.Errorf("alert %+v cheer %+v", alert, cheer)
	}
	if n := len(jobs(t, c)); n != 2 {
		t.Errorf("%d jobs, want 2 (gate, alert)", n)
	}
	if !slices.Contains(st.Errors, "backup-level pre-hook gate as job "+gate.Job+": exit 3") {
		t.Errorf("errors %q", st.Errors)
	}
}

// A post hook Job that fails makes a Completed backup PartiallyFailed with
// onError Fail, and leaves it Completed, with a warning, with Continue. A
// Job that failed with no exit code known says the Job's reason.
func TestJobHookPostFailureAndOnError(t *testing.T) {
	for _, tt := range []struct {
		onError   string
		want      api.BackupPhase
		inErrors  bool
		inWarning bool
	}{
		{onError: "Fail", want: api.BackupPhasePartiallyFailed, inErrors: true},
		{onError: "Continue", want: api.BackupPhaseCompleted, inWarning: true},
	} {
		t.Run(tt.onError, func(t *testing.T) {
			b := hookedBackup(t, "b-jpost", `
backup:
  post:
    - {name: ship, namespace: ops, onError: `+tt.onError+`, job: {template: {spec: {containers: [{name: c, image: deadline}]}}}}
`)
			started := metav1.NewTime(time.Now().Add(-time.Minute))
			b.Status = api.BackupStatus{Phase: api.BackupPhaseInProgress, StartTimestamp: &started, Planned: true, NodeBackupCount: 1}
			nb := &api.NodeBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b-jpost-node-a", Labels: map[string]string{LabelBackup: "b-jpost"}},
				Spec:   api.NodeBackupSpec{NodeName: "node-a", Pods: []api.PodAssignment{{Namespace: "shop", Name: "db-0", UID: "uid-db-0"}}},
				Status: api.NodeBackupStatus{Done: true, Pods: []api.PodResult{{Namespace: "shop", Name: "db-0", UID: "uid-db-0", Phase: api.PodCompleted}}}}
			c := jobClient(t, b, interceptor.Funcs{}, nb, agentPod("node-a"))
			actAsJobController(t, t.Context(), c)
			got, err := jobCoordinator(t, c, nil).Run(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: "b-jpost"})
			if err != nil {
				t.Fatal(err)
			}
			st := got.Status
			r := recordOf(got, "post", "ship")
			msg := "backup-level post-hook ship as job " + r.Job + ": timed out"
			if st.Phase != tt.want || slices.Contains(st.Errors, msg) != tt.inErrors || slices.Contains(st.Warnings, msg) != tt.inWarning {
				t.Errorf("phase %s errors %q warnings %q, want %s", st.Phase, st.Errors, st.Warnings, tt.want)
			}
			if r.State != api.BackupHookFailed || !r.TimedOut || r.Pod != "" || !strings.Contains(r.Error, "DeadlineExceeded") {
				t.Errorf("record %+v", r)
			}
		})
	}
}

// The outcome of a finished Job, worded as the exec form's.
func TestJobOutcome(t *testing.T) {
	failed := func(reason, msg string) *batchv1.Job {
		return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "j"}, Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: msg}}}}
	}
	complete := &batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}
	for _, tt := range []struct {
		name    string
		job     *batchv1.Job
		pod     JobPod
		outcome string
		failed  bool
	}{
		{"complete", complete, JobPod{Known: true}, "exit 0", false},
		{"exit code known", failed("BackoffLimitExceeded", "x"), JobPod{ExitCode: 2, Known: true}, "exit 2", true},
		{"no pod", failed("BackoffLimitExceeded", "Job has reached the specified backoff limit"), JobPod{},
			"error: job ops/j failed: BackoffLimitExceeded: Job has reached the specified backoff limit", true},
		{"deadline", failed(batchv1.JobReasonDeadlineExceeded, ""), JobPod{ExitCode: 137, Known: true}, "timed out", true},
	} {
		var res api.HookResult
		jobOutcome(tt.job, tt.pod, &res)
		if res.Outcome() != tt.outcome || res.Failed() != tt.failed {
			t.Errorf("%s: %q failed %v, want %q %v", tt.name, res.Outcome(), res.Failed(), tt.outcome, tt.failed)
		}
	}
	pods := []corev1.Pod{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "j-a", CreationTimestamp: metav1.Unix(10, 0)}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "j-b", CreationTimestamp: metav1.Unix(20, 0)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main"}, {Name: "side"}}},
			Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
				{Name: "main", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}},
				{Name: "side", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 4}}}}}},
	}
	if p, ok := lastJobPod(pods); !ok || p != (JobPod{Pod: "ops/j-b", Container: "side", ExitCode: 4, Known: true}) {
		t.Errorf("lastJobPod = %+v, %v: want the newest pod's failed container", p, ok)
	}
}
