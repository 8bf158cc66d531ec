package verify

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/podexec"
)

func testScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := api.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeExec answers by pod name; hang blocks until the context ends.
type fakeExec map[string]podexec.Result

func (f fakeExec) Exec(ctx context.Context, ns, pod, container string, cmd []string) (podexec.Result, error) {
	if pod == "hang" {
		<-ctx.Done()
		return podexec.Result{}, ctx.Err()
	}
	return f[pod], nil
}

func sourcePod(name string) api.PodResult {
	return api.PodResult{Namespace: "app", Name: name, Phase: api.PodCompleted}
}

// restoredPod is what the restore runner leaves in the scratch namespace.
func restoredPod(ns, name string, ready bool, ann map[string]string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	if ready {
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	} else {
		p.Status.Phase = corev1.PodPending
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "quiesce-restore-wait",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	}
	return p
}

type harness struct {
	c      client.WithWatch
	events *record.FakeRecorder
	v      *Verifier
}

// newHarness: the backup qs/b backed up app/<names>; starting the restore
// plays the runner: it creates the scratch namespace (labelled) and the
// pods, and ends the restore in phase.
func newHarness(t *testing.T, phase api.RestorePhase, pods map[string]*corev1.Pod, exec fakeExec) *harness {
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "qs", Name: "b", UID: "u1"},
		Status: api.BackupStatus{Phase: api.BackupPhaseCompleted}}
	// The per-pod report is in the Backup's NodeBackups.
	nb := &api.NodeBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "qs", Name: "b-node-a", Labels: map[string]string{api.LabelBackup: "b"}},
		Spec: api.NodeBackupSpec{BackupName: "b", NodeName: "node-a"}}
	for name := range pods {
		r := sourcePod(name)
		nb.Spec.Pods = append(nb.Spec.Pods, api.PodAssignment{Namespace: r.Namespace, Name: r.Name, UID: "uid-" + name})
		r.UID = "uid-" + name
		nb.Status.Pods = append(nb.Status.Pods, r)
	}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(b, nb).
		WithStatusSubresource(&api.Backup{}, &api.Restore{}).Build()
	h := &harness{c: c, events: record.NewFakeRecorder(10)}
	h.v = &Verifier{Client: c, Exec: exec, Events: h.events, Log: zap.NewNop(),
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		StartRestore: func(ctx context.Context, rs *api.Restore) error {
			ns := rs.Spec.NamespaceMapping["app"]
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
				Labels: map[string]string{api.LabelRestore: rs.Name}}}); err != nil {
				return err
			}
			for _, p := range pods {
				p = p.DeepCopy()
				p.Namespace = ns
				if err := c.Create(ctx, p); err != nil {
					return err
				}
			}
			rs.Status.Phase = phase
			if phase == api.RestorePhaseFailed {
				rs.Status.FailureReason = "open the repository: no such file"
			}
			return c.Status().Update(ctx, rs)
		}}
	return h
}

func (h *harness) run(t *testing.T, o Options) *api.Backup {
	t.Helper()
	o.ReadyTimeout = 200 * time.Millisecond
	b, err := h.v.Run(t.Context(), types.NamespacedName{Namespace: "qs", Name: "b"}, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRunPassesAndDeletesTheScratchNamespace(t *testing.T) {
	h := newHarness(t, api.RestorePhaseCompleted, map[string]*corev1.Pod{
		"db":    restoredPod("", "db", true, map[string]string{"verify.hook.quiesce.dev/command": `["cat","/data/payload"]`}),
		"plain": restoredPod("", "plain", true, nil),
	}, fakeExec{"db": {Stdout: "payload\n"}})
	b := h.run(t, Options{})
	v := b.Status.Verification
	if v == nil || v.Phase != api.VerificationPassed || v.Reason != "" || v.StartTime == nil || v.CompletionTime == nil {
		t.Fatalf("verification %+v", v)
	}
	if !strings.HasPrefix(v.Restore, "b-verify-") || len(v.Pods) != 2 {
		t.Fatalf("verification %+v", v)
	}
	db, plain := v.Pods[0], v.Pods[1]
	if !db.Passed || !db.Checked || db.Output != "payload" || db.Container != "app" {
		t.Errorf("db %+v", db)
	}
	if !plain.Passed || plain.Checked || plain.Message != NoCheck {
		t.Errorf("plain %+v", plain)
	}
	var nsl corev1.NamespaceList
	if err := h.c.List(t.Context(), &nsl); err != nil || len(nsl.Items) != 0 {
		t.Errorf("scratch namespaces left: %v %v", nsl.Items, err)
	}
	if ev := <-h.events.Events; !strings.HasPrefix(ev, "Normal VerificationPassed") {
		t.Errorf("event %q", ev)
	}
}

func TestRunFailsOnExitTimeoutAndNotReady(t *testing.T) {
	h := newHarness(t, api.RestorePhaseCompleted, map[string]*corev1.Pod{
		"bad":  restoredPod("", "bad", true, map[string]string{"verify.hook.quiesce.dev/command": `["sh","-c","echo corrupt; exit 3"]`}),
		"hang": restoredPod("", "hang", true, map[string]string{"verify.hook.quiesce.dev/command": "/check", "verify.hook.quiesce.dev/timeout": "50ms"}),
		"slow": restoredPod("", "slow", false, nil),
	}, fakeExec{"bad": {Stdout: "corrupt\n", ExitCode: 3}})
	b := h.run(t, Options{Keep: true})
	v := b.Status.Verification
	if v.Phase != api.VerificationFailed {
		t.Fatalf("phase %s", v.Phase)
	}
	byName := map[string]api.PodVerification{}
	for _, p := range v.Pods {
		byName[p.Name] = p
	}
	if p := byName["bad"]; p.Passed || p.ExitCode != 3 || p.Output != "corrupt" || p.Error != "check exited 3" {
		t.Errorf("bad %+v", p)
	}
	if p := byName["hang"]; p.Passed || p.ExitCode != -1 || !strings.HasPrefix(p.Error, "check timed out after 50ms") {
		t.Errorf("hang %+v", p)
	}
	ns := v.NamespaceMapping["app"]
	if p := byName["slow"]; p.Passed || p.Error != "restored pod "+ns+"/slow not Ready after 200ms: phase Pending" {
		t.Errorf("slow %+v", p)
	}
	if !strings.HasPrefix(v.Reason, "3 of 3 pods failed: pod app/bad: check exited 3; ") {
		t.Errorf("reason %q", v.Reason)
	}
	var n corev1.Namespace
	if err := h.c.Get(t.Context(), types.NamespacedName{Name: ns}, &n); err != nil {
		t.Errorf("--keep: scratch namespace %s: %v", ns, err)
	}
	if ev := <-h.events.Events; !strings.HasPrefix(ev, "Warning VerificationFailed 3 of 3 pods failed") {
		t.Errorf("event %q", ev)
	}
}

func TestRunFailsEveryPodWhenTheRestoreFails(t *testing.T) {
	h := newHarness(t, api.RestorePhaseFailed, map[string]*corev1.Pod{"db": restoredPod("", "db", true, nil)}, nil)
	v := h.run(t, Options{}).Status.Verification
	want := "restore " + v.Restore + " failed: open the repository: no such file"
	if v.Phase != api.VerificationFailed || len(v.Pods) != 1 || v.Pods[0].Error != want {
		t.Errorf("verification %+v", v)
	}
}

func TestRunRefusesABackupNotFinished(t *testing.T) {
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "qs", Name: "b"}, Status: api.BackupStatus{Phase: api.BackupPhaseInProgress}}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(b).WithStatusSubresource(&api.Backup{}).Build()
	v := &Verifier{Client: c, Log: zap.NewNop()}
	_, err := v.Run(t.Context(), types.NamespacedName{Namespace: "qs", Name: "b"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "is InProgress, not finished") {
		t.Fatalf("err %v", err)
	}
	var got api.Backup
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(b), &got); err != nil || got.Status.Verification != nil {
		t.Errorf("a refused verification is recorded: %+v %v", got.Status.Verification, err)
	}
}

// A scratch namespace that exists already is refused before anything is
// created: no Restore, no verification recorded, the namespace untouched.
func TestRunRefusesAnExistingScratchNamespace(t *testing.T) {
	h := newHarness(t, api.RestorePhaseCompleted, map[string]*corev1.Pod{"db": restoredPod("", "db", true, nil)}, nil)
	ns := ScratchNamespace("app", ShortHash("u1", h.v.Now().Format(time.RFC3339Nano)))
	if err := h.c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"owner": "someone"}}}); err != nil {
		t.Fatal(err)
	}
	_, err := h.v.Run(t.Context(), types.NamespacedName{Namespace: "qs", Name: "b"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "scratch namespace "+ns+" already exists") || !strings.Contains(err.Error(), "delete "+ns) {
		t.Fatalf("err %v", err)
	}
	var rs api.RestoreList
	if err := h.c.List(t.Context(), &rs); err != nil || len(rs.Items) != 0 {
		t.Errorf("restores %d (%v), want none", len(rs.Items), err)
	}
	var b api.Backup
	if err := h.c.Get(t.Context(), types.NamespacedName{Namespace: "qs", Name: "b"}, &b); err != nil || b.Status.Verification != nil {
		t.Errorf("verification recorded: %+v (%v)", b.Status.Verification, err)
	}
	var n corev1.Namespace
	if err := h.c.Get(t.Context(), types.NamespacedName{Name: ns}, &n); err != nil || n.Labels["owner"] != "someone" {
		t.Errorf("the existing namespace: %+v (%v)", n.Labels, err)
	}
}
