package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/podexec"
)

// fakeExec records the execs and answers them with fn.
type fakeExec struct {
	mu    sync.Mutex
	calls []string
	fn    func(ctx context.Context, cmd []string) (podexec.Result, error)
}

func (f *fakeExec) Exec(ctx context.Context, ns, pod, container string, cmd []string) (podexec.Result, error) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s/%s %s %s", ns, pod, container, strings.Join(cmd, " ")))
	f.mu.Unlock()
	if f.fn == nil {
		return podexec.Result{Stdout: "ok"}, nil
	}
	return f.fn(ctx, cmd)
}

func (f *fakeExec) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func hookedBackup(t *testing.T, name, hooksYAML string) *api.Backup {
	t.Helper()
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: name, UID: types.UID(name + "-uid")},
		Spec: api.BackupSpec{IncludedNamespaces: []string{"shop"}}}
	if err := yaml.UnmarshalStrict([]byte(hooksYAML), &b.Spec.Hooks); err != nil {
		t.Fatal(err)
	}
	return b
}

func labelled(p corev1.Pod, phase corev1.PodPhase) *corev1.Pod {
	p.Labels = map[string]string{"app": "db"}
	p.Status.Phase = phase
	return &p
}

func drain(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func recordOf(b *api.Backup, phase, name string) api.BackupHookResult {
	for _, r := range b.Status.BackupHooks {
		if r.Phase == phase && r.Name == name {
			return r
		}
	}
	return api.BackupHookResult{}
}

// A pre hook failing with onError Fail fails the Backup before any pod is
// frozen (no NodeBackup is written); the post hooks still run, gated by
// when; the hooks run in the first Running matching pod by name; a hook
// that outlives its timeout is recorded timed out.
func TestBackupHooksPreFailFailsBeforeFreezing(t *testing.T) {
	b := hookedBackup(t, "b-fail", `
backup:
  pre:
    - {name: gate, namespace: shop, labelSelector: {matchLabels: {app: db}}, command: [check]}
  post:
    - {name: report, namespace: shop, labelSelector: {matchLabels: {app: db}}, command: [slow], timeout: 50ms, onError: Continue}
    - {name: only-ok, namespace: shop, labelSelector: {matchLabels: {app: db}}, command: [celebrate], when: OnSuccess}
`)
	vol := map[string]string{AnnBackupVolumes: "data"}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).
		WithObjects(b, agentPod("node-a"),
			labelled(runningPod("shop", "db-a", "node-a", vol, nil), corev1.PodPending),
			labelled(runningPod("shop", "db-c", "node-a", vol, nil), corev1.PodRunning),
			labelled(runningPod("shop", "db-b", "node-a", vol, nil), corev1.PodRunning)).
		WithStatusSubresource(&api.Backup{}, &api.NodeBackup{}).Build()
	ex := &fakeExec{fn: func(ctx context.Context, cmd []string) (podexec.Result, error) {
		switch cmd[0] {
		case "check":
			return podexec.Result{Stderr: "not ready", ExitCode: 3}, nil
		case "slow":
			<-ctx.Done()
			return podexec.Result{}, ctx.Err()
		}
		return podexec.Result{}, nil
	}}
	events := record.NewFakeRecorder(20)
	co := &Coordinator{Client: c, Log: zaptest.NewLogger(t), AgentNamespace: "quiesce",
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: time.Minute, Exec: ex, Events: events}

	got, err := co.Run(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: "b-fail"})
	if err != nil {
		t.Fatal(err)
	}
	st := got.Status
	if st.Phase != api.BackupPhaseFailed || st.CompletionTimestamp == nil || st.PhaseBeforePostHooks != api.BackupPhaseFailed {
		t.Errorf("phase %s completion %v before-post %s, want Failed, set, Failed", st.Phase, st.CompletionTimestamp, st.PhaseBeforePostHooks)
	}
	var nbs api.NodeBackupList
	if err := c.List(t.Context(), &nbs); err != nil || len(nbs.Items) != 0 || st.Planned {
		t.Errorf("nodebackups %v (%v), planned %v: no pod may be assigned (frozen) after a failed pre hook", nbs.Items, err, st.Planned)
	}
	if want := []string{"shop/db-b app check", "shop/db-b app slow"}; !slices.Equal(ex.Calls(), want) {
		t.Errorf("execs %q, want %q", ex.Calls(), want)
	}
	gate, report, onlyOK := recordOf(got, "pre", "gate"), recordOf(got, "post", "report"), recordOf(got, "post", "only-ok")
	if gate.State != api.BackupHookFailed || gate.ExitCode != 3 || gate.Pod != "shop/db-b" || gate.Container != "app" ||
		gate.Output != "not ready" || gate.Attempts != 1 || gate.StartTimestamp == nil || gate.Source != "spec spec.hooks.backup.pre[0]" {
		t.Errorf("gate = %+v", gate)
	}
	if report.State != api.BackupHookFailed || !report.TimedOut || !strings.Contains(report.Error, "timeout 50ms") {
		t.Errorf("report = %+v, want timed out", report)
	}
	if onlyOK.State != api.BackupHookSkipped || onlyOK.Reason != "when OnSuccess, and the backup is Failed" {
		t.Errorf("only-ok = %+v", onlyOK)
	}
	if !slices.Contains(st.Errors, "backup-level pre-hook gate in pod shop/db-b: exit 3") ||
		!slices.ContainsFunc(st.Warnings, func(w string) bool {
			return strings.HasPrefix(w, "backup-level post-hook report in pod shop/db-b: timed out")
		}) {
		t.Errorf("errors %q warnings %q", st.Errors, st.Warnings)
	}
	if st.HooksAttempted != 2 || st.HooksFailed != 2 {
		t.Errorf("hooks %d/%d, want 2/2", st.HooksAttempted, st.HooksFailed)
	}
	evs := strings.Join(drain(events), "\n")
	for _, w := range []string{
		"Warning BackupLevelHookFailed backup-level pre-hook gate in pod shop/db-b container app failed: exit code 3",
		"Warning BackupLevelHookTimedOut backup-level post-hook report in pod shop/db-b container app timed out",
		"Normal BackupLevelHookSkipped backup-level post-hook only-ok skipped: when OnSuccess",
		"Warning BackupFailed",
	} {
		if !strings.Contains(evs, w) {
			t.Errorf("events lack %q:\n%s", w, evs)
		}
	}
}

// The pre hook runs before any NodeBackup exists; the post hook after every
// pod is final, while the Backup is still InProgress; then it completes.
func TestBackupHooksRunAroundThePods(t *testing.T) {
	b := hookedBackup(t, "b-ok", `
backup:
  pre:
    - {name: start, namespace: shop, labelSelector: {matchLabels: {app: db}}, container: sidecar, command: [start]}
  post:
    - {name: end, namespace: shop, labelSelector: {matchLabels: {app: db}}, command: [end], when: OnSuccess}
`)
	db := labelled(runningPod("shop", "db-0", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil), corev1.PodRunning)
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(b, db, agentPod("node-a")).
		WithStatusSubresource(&api.Backup{}, &api.NodeBackup{}).Build()
	var problems []string
	ex := &fakeExec{}
	ex.fn = func(ctx context.Context, cmd []string) (podexec.Result, error) {
		var nbs api.NodeBackupList
		if err := c.List(ctx, &nbs); err != nil {
			return podexec.Result{}, err
		}
		var cur api.Backup
		if err := c.Get(ctx, client.ObjectKeyFromObject(b), &cur); err != nil {
			return podexec.Result{}, err
		}
		switch cmd[0] {
		case "start":
			if len(nbs.Items) != 0 {
				problems = append(problems, "pre hook ran after a NodeBackup was written")
			}
		case "end":
			if len(nbs.Items) != 1 || !nbs.Items[0].Status.Done {
				problems = append(problems, "post hook ran before every pod was final")
			}
			if cur.Status.Phase != api.BackupPhaseInProgress || cur.Status.PhaseBeforePostHooks != api.BackupPhaseCompleted {
				problems = append(problems, fmt.Sprintf("during the post hook the backup is %s (before post: %s), want InProgress (Completed)",
					cur.Status.Phase, cur.Status.PhaseBeforePostHooks))
			}
			if r := recordOf(&cur, "post", "end"); r.State != api.BackupHookRunning {
				problems = append(problems, "post hook not recorded Running before it ran")
			}
		}
		return podexec.Result{Stdout: cmd[0] + "ed"}, nil
	}
	co := &Coordinator{Client: c, Log: zaptest.NewLogger(t), AgentNamespace: "quiesce",
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: time.Minute, Exec: ex}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type result struct {
		b   *api.Backup
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := co.Run(ctx, types.NamespacedName{Namespace: "quiesce", Name: "b-ok"})
		done <- result{b, err}
	}()
	// Act as the agent once the NodeBackup exists.
	w, err := c.Watch(ctx, &api.NodeBackupList{}, client.InNamespace("quiesce"))
	if err != nil {
		t.Fatal(err)
	}
	for ev := range w.ResultChan() {
		nb, ok := ev.Object.(*api.NodeBackup)
		if !ok || nb.Status.Done {
			continue
		}
		p := nb.Spec.Pods[0]
		nb.Status.Pods = []api.PodResult{{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Phase: api.PodCompleted}}
		nb.Status.Done = true
		if err := c.Status().Update(ctx, nb); err != nil {
			t.Fatal(err)
		}
		break
	}
	w.Stop()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	if want := []string{"shop/db-0 sidecar start", "shop/db-0 app end"}; !slices.Equal(ex.Calls(), want) {
		t.Errorf("execs %q, want %q", ex.Calls(), want)
	}
	st := r.b.Status
	if st.Phase != api.BackupPhaseCompleted || st.CompletionTimestamp == nil {
		t.Errorf("phase %s completion %v", st.Phase, st.CompletionTimestamp)
	}
	if end := recordOf(r.b, "post", "end"); end.State != api.BackupHookSucceeded || end.Output != "ended" {
		t.Errorf("end = %+v", end)
	}
}

// A coordinator restarted after the pods were final, while the post hook
// ran, finds pre Succeeded and post Running: it runs post (again), not pre,
// and finishes the Backup.
func TestBackupHooksRestartRunsOwedPostHooks(t *testing.T) {
	b := hookedBackup(t, "b-restart", `
backup:
  pre:
    - {name: start, namespace: shop, labelSelector: {matchLabels: {app: db}}, command: [start]}
  post:
    - {name: end, namespace: shop, labelSelector: {matchLabels: {app: db}}, command: [end]}
`)
	started := metav1.NewTime(time.Now().Add(-time.Minute))
	pre := hookRec("pre", "start", api.BackupHookSucceeded)
	post := hookRec("post", "end", api.BackupHookRunning)
	b.Status = api.BackupStatus{Phase: api.BackupPhaseInProgress, StartTimestamp: &started, Planned: true, NodeBackupCount: 1,
		PhaseBeforePostHooks: api.BackupPhaseCompleted, BackupHooks: []api.BackupHookResult{pre, post}}
	nb := &api.NodeBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b-restart-node-a", Labels: map[string]string{LabelBackup: "b-restart"}},
		Spec:   api.NodeBackupSpec{NodeName: "node-a", Pods: []api.PodAssignment{{Namespace: "shop", Name: "db-0", UID: "uid-db-0"}}},
		Status: api.NodeBackupStatus{Done: true, Pods: []api.PodResult{{Namespace: "shop", Name: "db-0", UID: "uid-db-0", Phase: api.PodCompleted}}}}
	db := labelled(runningPod("shop", "db-0", "node-a", nil, nil), corev1.PodRunning)
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(b, nb, db, agentPod("node-a")).
		WithStatusSubresource(&api.Backup{}, &api.NodeBackup{}).Build()
	ex := &fakeExec{}
	co := &Coordinator{Client: c, Log: zaptest.NewLogger(t), AgentNamespace: "quiesce",
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: time.Minute, Exec: ex}
	got, err := co.Run(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: "b-restart"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"shop/db-0 app end"}; !slices.Equal(ex.Calls(), want) {
		t.Errorf("execs %q, want only the owed post hook %q", ex.Calls(), want)
	}
	if got.Status.Phase != api.BackupPhaseCompleted || got.Status.CompletionTimestamp == nil {
		t.Errorf("phase %s completion %v", got.Status.Phase, got.Status.CompletionTimestamp)
	}
	if end := recordOf(got, "post", "end"); end.State != api.BackupHookSucceeded || end.Attempts != 2 {
		t.Errorf("end = %+v, want Succeeded at attempt 2", end)
	}
	if start := recordOf(got, "pre", "start"); start.Attempts != 1 {
		t.Errorf("start = %+v, want untouched", start)
	}
}

// A broken backup-level hook fails the Backup, naming the field and the
// fix, before anything runs.
func TestBackupHooksInvalidSpecFailsBeforeAnythingRuns(t *testing.T) {
	b := hookedBackup(t, "b-bad", `
backup:
  pre:
    - {namespace: shop, labelSelector: {matchLabels: {app: db}}, command: [start], timeout: -5s}
`)
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(b, agentPod("node-a")).
		WithStatusSubresource(&api.Backup{}, &api.NodeBackup{}).Build()
	ex := &fakeExec{}
	co := &Coordinator{Client: c, Log: zaptest.NewLogger(t), AgentNamespace: "quiesce",
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: time.Minute, Exec: ex}
	_, err := co.Run(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: "b-bad"})
	want := `backup quiesce/b-bad: spec.hooks.backup.pre[0].timeout="-5s": negative duration (use a positive duration such as "30s", or omit it for 30s)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	var cur api.Backup
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(b), &cur); err != nil {
		t.Fatal(err)
	}
	if cur.Status.Phase != api.BackupPhaseFailed || !slices.Contains(cur.Status.Errors, want) || len(ex.Calls()) != 0 {
		t.Errorf("status %+v, execs %q", cur.Status, ex.Calls())
	}
}
