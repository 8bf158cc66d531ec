package coordinator

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/testenv"
)

// A 5,000-pod backup on a real API server and etcd: the coordinator plans
// it, the agents' part (played here) reports the largest results a pod can
// have, and every object written stays under api.MaxObjectBytes, the
// Backup's status included. Before the report left the status, this
// backup's status (~2 KB a pod) could not be written at all.
func TestFiveThousandPodBackupOnARealAPIServer(t *testing.T) {
	k := testenv.StartKubeAPITest(t)
	ctx := t.Context()
	c, err := client.NewWithWatch(k.Config, client.Options{Scheme: testScheme(t)})
	if err != nil {
		t.Fatal(err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	crds, _ := filepath.Glob(filepath.Join(root, "charts", "quiesce", "crds", "*.yaml"))
	if err := testenv.ApplyManifests(ctx, c, crds...); err != nil {
		t.Fatal(err)
	}
	const nodes, perNode, pending = 10, 500, 200
	for _, ns := range []string{"quiesce", "shop"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	var pods []*corev1.Pod
	for n := range nodes {
		node := fmt.Sprintf("node-%02d", n)
		pods = append(pods, agentPod(node))
		for i := range perNode {
			p := runningPod("shop", fmt.Sprintf("app-%02d-%03d", n, i), node, map[string]string{AnnBackupVolumes: "data",
				"pre.hook.backup.velero.io/command": `["/bin/sh","-c","sync"]`}, nil)
			pods = append(pods, &p)
		}
	}
	for i := range pending {
		p := runningPod("shop", fmt.Sprintf("pending-%03d", i), "node-00", map[string]string{AnnBackupVolumes: "data"}, nil)
		p.Status.Phase = corev1.PodPending
		pods = append(pods, &p)
	}
	createPods(t, c, pods)

	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "big"}, Spec: api.BackupSpec{IncludedNamespaces: []string{"shop"}}}
	if err := c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	rec := &fakeRecorder{}
	co := &Coordinator{Client: c, Log: zaptest.NewLogger(t), AgentNamespace: "quiesce",
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: 10 * time.Minute, Resources: rec}
	type result struct {
		b   *api.Backup
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := co.Run(ctx, client.ObjectKeyFromObject(b))
		done <- result{got, err}
	}()

	nbs := waitPlanned(t, c, b)
	// The agents' part: every pod reports the largest compact result its
	// assignment allows; one in ten failed.
	var agents []func() error
	var failed atomic.Int64
	for i := range nbs {
		nb := &nbs[i]
		if nb.Spec.NodeName == "" {
			continue
		}
		agents = append(agents, func() error {
			for j, a := range nb.Spec.Pods {
				r := worstResult(a)
				r.Phase = api.PodCompleted
				if j%10 == 0 {
					r.Phase = api.PodFailed
					failed.Add(1)
				}
				nb.Status.Pods = append(nb.Status.Pods, r.Compact())
			}
			nb.Status.Done = true
			return c.Status().Update(ctx, nb)
		})
	}
	if err := parallel(8, agents); err != nil {
		t.Fatalf("agent status write: %v", err)
	}

	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	st := r.b.Status
	if want := nodes*perNode + pending; st.PodCounts.Total != want || st.PodCounts.Skipped != pending ||
		st.PodCounts.Failed != int(failed.Load()) || st.Phase != api.BackupPhasePartiallyFailed {
		t.Fatalf("phase %s, counts %+v", st.Phase, st.PodCounts)
	}
	if len(rec.reports) != 1 || len(rec.reports[0]) != nodes*perNode+pending {
		t.Fatalf("stored reports: %d", len(rec.reports))
	}
	// Every object written, as the API server holds it.
	var largest int
	var largestName string
	var list api.NodeBackupList
	if err := c.List(ctx, &list, client.InNamespace("quiesce")); err != nil {
		t.Fatal(err)
	}
	var got api.Backup
	if err := c.Get(ctx, client.ObjectKeyFromObject(b), &got); err != nil {
		t.Fatal(err)
	}
	objs := []client.Object{&got}
	for i := range list.Items {
		objs = append(objs, &list.Items[i])
	}
	for _, o := range objs {
		raw, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > largest {
			largest, largestName = len(raw), fmt.Sprintf("%T %s", o, o.GetName())
		}
		if len(raw) >= api.MaxObjectBytes {
			t.Errorf("%T %s: %d bytes, want under %d", o, o.GetName(), len(raw), api.MaxObjectBytes)
		}
	}
	t.Logf("%d pods in %d nodebackups; largest object %s: %d bytes", st.PodCounts.Total, len(list.Items), largestName, largest)
}

// createPods creates pods (Running ones get their status set, as a kubelet
// would) with a few writers at a time.
func createPods(t *testing.T, c client.Client, pods []*corev1.Pod) {
	t.Helper()
	ctx := t.Context()
	var creates []func() error
	for _, p := range pods {
		creates = append(creates, func() error {
			phase := p.Status.Phase
			p.UID = ""
			if len(p.Spec.Containers) == 0 {
				p.Spec.Containers = []corev1.Container{{Name: "agent"}}
			}
			for i := range p.Spec.Containers {
				p.Spec.Containers[i].Image = "busybox"
			}
			if err := c.Create(ctx, p); err != nil {
				return fmt.Errorf("create pod %s/%s: %w", p.Namespace, p.Name, err)
			}
			p.Status.Phase = phase
			if err := c.Status().Update(ctx, p); err != nil {
				return fmt.Errorf("pod %s/%s status: %w", p.Namespace, p.Name, err)
			}
			return nil
		})
	}
	if err := parallel(16, creates); err != nil {
		t.Fatal(err)
	}
}

// parallel runs fns, n at a time, and joins their errors.
func parallel(n int, fns []func() error) error {
	sem := make(chan struct{}, n)
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitPlanned waits for b's NodeBackups to be written and returns them.
func waitPlanned(t *testing.T, c client.WithWatch, b *api.Backup) []api.NodeBackup {
	t.Helper()
	for {
		var cur api.Backup
		if err := c.Get(t.Context(), types.NamespacedName{Namespace: b.Namespace, Name: b.Name}, &cur); err != nil {
			t.Fatal(err)
		}
		if cur.Status.Planned {
			var list api.NodeBackupList
			if err := c.List(t.Context(), &list, client.InNamespace(b.Namespace), client.MatchingLabels{api.LabelBackup: b.Name}); err != nil {
				t.Fatal(err)
			}
			if len(list.Items) != cur.Status.NodeBackupCount {
				t.Fatalf("%d nodebackups, status says %d", len(list.Items), cur.Status.NodeBackupCount)
			}
			return list.Items
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
