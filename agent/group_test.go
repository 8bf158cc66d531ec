package agent_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/quiesce-dev/quiesce/agent"
	"github.com/quiesce-dev/quiesce/agent/journal"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/coordinator"
)

// steps records what happened to which pod, in order, across agents.
type steps struct {
	mu  sync.Mutex
	log []string
}

func (s *steps) add(x string) { s.mu.Lock(); s.log = append(s.log, x); s.mu.Unlock() }

type recHooks struct{ s *steps }

func (h recHooks) Freeze(ctx context.Context, _ string, pod *api.PodAssignment) (agent.Thaw, []api.HookResult, bool) {
	h.s.add("freeze " + pod.Name)
	return func(context.Context, bool) ([]api.HookResult, bool) {
		h.s.add("thaw " + pod.Name)
		return nil, true
	}, nil, true
}

func (h recHooks) ThawOnly(ctx context.Context, _ string, pod *api.PodAssignment) ([]api.HookResult, bool) {
	h.s.add("thaw " + pod.Name)
	return nil, true
}

type recVolumes struct{ s *steps }

func (v recVolumes) Capture(ctx context.Context, _ agent.BackupRef, pod *api.PodAssignment, _ bool) ([]api.VolumeResult, error) {
	v.s.add("capture " + pod.Name)
	return nil, nil
}

func (v recVolumes) Upload(ctx context.Context, _ agent.BackupRef, pod *api.PodAssignment, _ []api.VolumeResult) ([]api.VolumeResult, error) {
	return nil, nil
}

// TestConsistencyGroupAcrossNodes runs the coordinator and two agents
// against one API (fake client): pods of a group on two nodes freeze in
// ascending order, are captured only once all are frozen, and thaw in
// reverse order once all are captured.
func TestConsistencyGroupAcrossNodes(t *testing.T) {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = api.AddToScheme(s)
	pod := func(name, node, order string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(name), Annotations: map[string]string{
				"pre.hook.backup.velero.io/command": "sync", coordinator.AnnGroup: "shop", coordinator.AnnOrder: order}},
			Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning},
		}
	}
	agentPod := func(node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "agent-" + node, Labels: map[string]string{"app": "agent"}},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1", UID: "b1"}}
	c := fake.NewClientBuilder().WithScheme(s).
		WithObjects(b, pod("proxy", "node-b", "1"), pod("db", "node-a", "2"), pod("cache", "node-b", "3"), agentPod("node-a"), agentPod("node-b")).
		WithStatusSubresource(&api.Backup{}, &api.NodeBackup{}).Build()

	st := &steps{}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	agentCtx, stopAgents := context.WithCancel(ctx)
	var wg sync.WaitGroup
	watching := make(chan struct{}, 2)
	for _, node := range []string{"node-a", "node-b"} {
		j, err := journal.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		ag := &agent.Agent{Node: node, Namespace: "quiesce", Client: watchOpened{c, watching}, Journal: j, Hooks: recHooks{st}, Volumes: recVolumes{st},
			CaptureSlots: 1, Log: zaptest.NewLogger(t).Named(node)}
		wg.Add(1)
		go func() { defer wg.Done(); _ = ag.Run(agentCtx) }()
	}
	// The fake client's watch does not replay from the version listed:
	// NodeBackups created between an agent's list and its watch would be
	// lost (CI lost them under load, and the backup timed out).
	for range 2 {
		select {
		case <-watching:
		case <-ctx.Done():
			t.Fatal("agents never watched their NodeBackups")
		}
	}
	co := &coordinator.Coordinator{Client: c, Log: zaptest.NewLogger(t).Named("coordinator"), AgentNamespace: "quiesce",
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: 25 * time.Second}
	res, err := co.Run(ctx, types.NamespacedName{Namespace: "quiesce", Name: "b1"})
	stopAgents()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if res.Status.Phase != api.BackupPhaseCompleted {
		t.Fatalf("backup %s: %+v", res.Status.Phase, res.Status)
	}
	got := slices.Clone(st.log)
	want := []string{"freeze proxy", "freeze db", "freeze cache"}
	if !slices.Equal(got[:3], want) {
		t.Fatalf("freeze order = %v, want %v", got[:3], want)
	}
	captures := got[3:6]
	slices.Sort(captures)
	if !slices.Equal(captures, []string{"capture cache", "capture db", "capture proxy"}) {
		t.Fatalf("steps 4-6 = %v, want the three captures, after every freeze", got[3:6])
	}
	if !slices.Equal(got[6:], []string{"thaw cache", "thaw db", "thaw proxy"}) {
		t.Fatalf("thaw order = %v, want reverse order after every capture", got[6:])
	}
}

// watchOpened signals once a NodeBackup watch is open.
type watchOpened struct {
	client.WithWatch
	opened chan<- struct{}
}

func (w watchOpened) Watch(ctx context.Context, list client.ObjectList, opts ...client.ListOption) (watch.Interface, error) {
	wi, err := w.WithWatch.Watch(ctx, list, opts...)
	if _, ok := list.(*api.NodeBackupList); ok && err == nil {
		select {
		case w.opened <- struct{}{}:
		default:
		}
	}
	return wi, err
}
