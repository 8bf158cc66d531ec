package agent

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/agent/phase"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func nodeBackup(name, node string, pods ...string) *api.NodeBackup {
	nb := &api.NodeBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: name, Labels: map[string]string{api.LabelNode: node, api.LabelBackup: "b1"}},
		Spec:       api.NodeBackupSpec{BackupName: "b1", NodeName: node, MaxFreeze: metav1.Duration{Duration: time.Minute}, CaptureMode: api.CaptureStaged},
	}
	for _, p := range pods {
		nb.Spec.Pods = append(nb.Spec.Pods, api.PodAssignment{Namespace: "shop", Name: p, UID: "uid-" + p})
	}
	return nb
}

// waitDone watches the NodeBackup until its status says done, at most timeout.
func waitDone(t *testing.T, c client.WithWatch, name string, timeout time.Duration) *api.NodeBackup {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	w, err := c.Watch(ctx, &api.NodeBackupList{}, client.InNamespace("quiesce"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for {
		var nb api.NodeBackup
		if err := c.Get(ctx, client.ObjectKey{Namespace: "quiesce", Name: name}, &nb); err != nil {
			t.Fatal(err)
		}
		if nb.Status.Done {
			return &nb
		}
		select {
		case <-w.ResultChan():
		case <-ctx.Done():
			t.Fatalf("nodebackup %s not done: %+v", name, nb.Status)
		}
	}
}

func newAgent(t *testing.T, c client.WithWatch, tr *trace, dir string) *Agent {
	j, err := journal.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &Agent{Node: "node-a", Namespace: "quiesce", Client: c, Journal: j,
		Hooks: &fakeHooks{tr: tr, preOK: true}, Volumes: &fakeVolumes{tr: tr}, CaptureSlots: 1, Log: zaptest.NewLogger(t)}
}

func TestAgentActsOnlyOnItsNode(t *testing.T) {
	s := runtime.NewScheme()
	_ = api.AddToScheme(s)
	mine, theirs := nodeBackup("b1-node-a", "node-a", "db-0", "web-0"), nodeBackup("b1-node-b", "node-b", "cache-0")
	theirs.Labels[api.LabelNode] = "node-a" // even mislabelled, spec.nodeName decides
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(mine, theirs).WithStatusSubresource(&api.NodeBackup{}).Build()
	tr := &trace{}
	ag := newAgent(t, c, tr, t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- ag.Run(ctx) }()

	nb := waitDone(t, c, "b1-node-a", 20*time.Second)
	cancel()
	<-done
	if len(nb.Status.Pods) != 2 {
		t.Fatalf("status pods = %+v", nb.Status.Pods)
	}
	for _, p := range nb.Status.Pods {
		if p.Phase != api.PodCompleted || p.Node != "node-a" || p.Freeze == nil {
			t.Errorf("pod %s: %+v", p.Name, p)
		}
	}
	if n := len(slices.DeleteFunc(tr.get(), func(s string) bool { return s != "freeze" })); n != 2 {
		t.Errorf("%d freezes, want 2 (node-b's pod is not ours): %v", n, tr.get())
	}
	var other api.NodeBackup
	_ = c.Get(t.Context(), client.ObjectKey{Namespace: "quiesce", Name: "b1-node-b"}, &other)
	if len(other.Status.Pods) != 0 {
		t.Errorf("agent wrote another node's status: %+v", other.Status)
	}
}

func TestAgentRestartThawsFromJournalFirst(t *testing.T) {
	s := runtime.NewScheme()
	_ = api.AddToScheme(s)
	nb := nodeBackup("b1-node-a", "node-a", "db-0")
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(nb).WithStatusSubresource(&api.NodeBackup{}).Build()
	dir := t.TempDir()
	j, _ := journal.Open(dir)
	pod := nb.Spec.Pods[0]
	if err := j.Put(journal.Record{Backup: "b1", NodeBackup: "b1-node-a", Namespace: "shop", Pod: "db-0", PodUID: pod.UID,
		Phase: phase.Capturing, Staged: true, Assignment: &pod}); err != nil {
		t.Fatal(err)
	}
	tr := &trace{}
	ag := newAgent(t, c, tr, dir)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- ag.Run(ctx) }()
	got := waitDone(t, c, "b1-node-a", 20*time.Second)
	cancel()
	<-done
	if calls := tr.get(); !slices.Equal(calls, []string{"thaw-only"}) {
		t.Errorf("calls = %v, want the thaw only (not a second freeze)", calls)
	}
	if p := got.Status.Pods[0]; p.Phase != api.PodFailed || p.Reason != "agent restarted while the pod was frozen" {
		t.Errorf("pod = %+v", p)
	}
}

// A NodeBackup without a freeze bound (hand-written, or from a coordinator
// that did not plan it) is refused before any hook runs: the agent does not
// invent a bound of its own.
func TestAgentRefusesAPodWithoutAFreezeBound(t *testing.T) {
	s := runtime.NewScheme()
	_ = api.AddToScheme(s)
	nb := nodeBackup("b1-node-a", "node-a", "db-0")
	nb.Spec.MaxFreeze = metav1.Duration{}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(nb).WithStatusSubresource(&api.NodeBackup{}).Build()
	tr := &trace{}
	ag := newAgent(t, c, tr, t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- ag.Run(ctx) }()
	got := waitDone(t, c, "b1-node-a", 20*time.Second)
	cancel()
	<-done
	if len(got.Status.Pods) != 1 || got.Status.Pods[0].Cause != api.CauseInvalidSpec {
		t.Fatalf("status pods = %+v, want db-0 failed with cause InvalidSpec", got.Status.Pods)
	}
	if tr := tr.get(); len(tr) != 0 {
		t.Errorf("the agent acted on a pod it refused: %v", tr)
	}
}
