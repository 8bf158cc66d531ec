package coordinator

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func testScheme(t *testing.T) *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := api.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func agentPod(node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "agent-" + node, Labels: map[string]string{"app": "agent"}},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

// TestRunFollowsAgentsToCompletion plays the agents' part: it reports pod
// results on the NodeBackups the coordinator wrote and checks that the
// coordinator, woken by the watch, finishes the Backup with their results.
func TestRunFollowsAgentsToCompletion(t *testing.T) {
	db := runningPod("shop", "db-0", "node-a", map[string]string{AnnBackupVolumes: "data", "pre.hook.backup.velero.io/command": "sync"}, nil)
	web := runningPod("shop", "web-0", "node-b", map[string]string{AnnBackupVolumes: "data"}, nil)
	pending := runningPod("shop", "pending", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil)
	pending.Status.Phase = corev1.PodPending
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1", UID: "b1-uid"},
		Spec: api.BackupSpec{IncludedNamespaces: []string{"shop"}, TTL: metav1.Duration{Duration: time.Hour}}}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).
		WithObjects(b, &db, &web, &pending, agentPod("node-a"), agentPod("node-b")).
		WithStatusSubresource(&api.Backup{}, &api.NodeBackup{}).Build()
	co := &Coordinator{Client: c, Log: zaptest.NewLogger(t), AgentNamespace: "quiesce",
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: time.Minute}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type result struct {
		b   *api.Backup
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := co.Run(ctx, types.NamespacedName{Namespace: "quiesce", Name: "b1"})
		done <- result{b, err}
	}()

	// Act as the two agents once their NodeBackups exist.
	w, err := c.Watch(ctx, &api.NodeBackupList{}, client.InNamespace("quiesce"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		ev := <-w.ResultChan()
		nb, ok := ev.Object.(*api.NodeBackup)
		if !ok || seen[nb.Name] {
			continue
		}
		if nb.Labels[LabelNode] == "" {
			continue // the pods the plan left out: no agent's
		}
		seen[nb.Name] = true
		if nb.Labels[LabelBackup] != "b1" || len(nb.OwnerReferences) != 1 || nb.OwnerReferences[0].UID != "b1-uid" {
			t.Errorf("nodebackup %s: labels %v owners %v", nb.Name, nb.Labels, nb.OwnerReferences)
		}
		if len(nb.Spec.Pods) != 1 {
			t.Fatalf("nodebackup %s has pods %+v, want 1", nb.Name, nb.Spec.Pods)
		}
		p := nb.Spec.Pods[0]
		res := api.PodResult{Namespace: p.Namespace, Name: p.Name, UID: p.UID, Phase: api.PodCompleted}
		if p.Name == "db-0" {
			res.Phase, res.Reason = api.PodFailed, "hook pre-annotation exited 1"
			res.Hooks = []api.HookResult{{Name: "pre-annotation", Phase: "pre", ExitCode: 1}}
		}
		nb.Status.Pods = []api.PodResult{res}
		nb.Status.Done = true
		if err := c.Status().Update(ctx, nb); err != nil {
			t.Fatal(err)
		}
	}
	w.Stop()

	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	st := r.b.Status
	if st.Phase != api.BackupPhasePartiallyFailed {
		t.Errorf("phase = %s, want PartiallyFailed", st.Phase)
	}
	if st.StartTimestamp == nil || st.CompletionTimestamp == nil || st.Expiration == nil {
		t.Errorf("timestamps not set: %+v", st)
	}
	if st.HooksAttempted != 1 || st.HooksFailed != 1 {
		t.Errorf("hooks attempted/failed = %d/%d, want 1/1", st.HooksAttempted, st.HooksFailed)
	}
	if c := st.PodCounts; c.Total != 3 || c.Completed != 1 || c.Failed != 1 || c.Skipped != 1 || len(st.FailedPods) != 1 ||
		len(st.Errors) != 1 || len(st.Warnings) != 1 {
		t.Errorf("pods %+v failed %+v errors %q warnings %q", st.PodCounts, st.FailedPods, st.Errors, st.Warnings)
	}
	// Two nodes, and the pod the plan left out.
	if !st.Planned || st.NodeBackupCount != 3 {
		t.Errorf("planned %v, nodeBackups = %d", st.Planned, st.NodeBackupCount)
	}

	// A second run of a final backup changes nothing.
	again, err := co.Run(ctx, types.NamespacedName{Namespace: "quiesce", Name: "b1"})
	if err != nil || again.Status.Phase != api.BackupPhasePartiallyFailed || again.ResourceVersion != r.b.ResourceVersion {
		t.Errorf("rerun: %v %s", err, again.Status.Phase)
	}
}

func TestRunTimesOutPodsThatNeverReport(t *testing.T) {
	db := runningPod("shop", "db-0", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil)
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b2"}}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(b, &db, agentPod("node-a")).
		WithStatusSubresource(&api.Backup{}, &api.NodeBackup{}).Build()
	co := &Coordinator{Client: c, Log: zaptest.NewLogger(t), AgentNamespace: "quiesce",
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: 200 * time.Millisecond}
	got, err := co.Run(t.Context(), types.NamespacedName{Namespace: "quiesce", Name: "b2"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != api.BackupPhaseFailed || got.Status.PodCounts.Failed != 1 || len(got.Status.FailedPods) != 1 {
		t.Fatalf("status = %+v, want the silent pod failed", got.Status)
	}
	if p, want := got.Status.FailedPods[0], "did not finish the pod within the backup timeout"; p.Cause != api.CauseBackupTimeout || !strings.Contains(p.Reason, want) {
		t.Errorf("cause %s, reason = %q", p.Cause, p.Reason)
	}
	// Its volume is named as not backed up, for a restore to say so.
	if v := got.Status.FailedPods[0].Volumes; len(v) != 1 || v[0].Name != "data" || v[0].SnapshotID != "" || v[0].Error == "" {
		t.Errorf("volumes of the timed-out pod = %+v, want data not backed up", v)
	}
}

// A coordinator killed while it wrote the NodeBackups plans again when it
// restarts: what it wrote stands (its agent may be at work), the pods it
// holds are not assigned twice, and the pods not yet written are, under
// names of their own, even when the pods changed in between.
func TestPlanResumesAfterACutShortRun(t *testing.T) {
	db := runningPod("shop", "db-0", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil)
	web := runningPod("shop", "web-0", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil)
	late := runningPod("shop", "late-0", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil)
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1", UID: "b1-uid"},
		Spec: api.BackupSpec{IncludedNamespaces: []string{"shop"}}}
	// The earlier run wrote node-a's first chunk: db-0, and a pod deleted since.
	written := api.NodeBackup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: ChunkName("b1", "node-a", 0),
		Labels: map[string]string{LabelBackup: "b1", LabelNode: "node-a"}},
		Spec: api.NodeBackupSpec{BackupName: "b1", NodeName: "node-a", Pods: []api.PodAssignment{
			{Namespace: "shop", Name: "db-0", UID: string(db.UID)}, {Namespace: "shop", Name: "gone", UID: "gone-uid"}}}}
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).
		WithObjects(b, &db, &web, &late, agentPod("node-a"), written.DeepCopy()).
		WithStatusSubresource(&api.Backup{}, &api.NodeBackup{}).Build()
	co := &Coordinator{Client: c, Log: zaptest.NewLogger(t), AgentNamespace: "quiesce",
		AgentSelector: labels.SelectorFromSet(labels.Set{"app": "agent"}), Timeout: time.Minute}
	if err := co.plan(t.Context(), b, zaptest.NewLogger(t)); err != nil {
		t.Fatal(err)
	}
	var list api.NodeBackupList
	if err := c.List(t.Context(), &list, client.InNamespace("quiesce")); err != nil {
		t.Fatal(err)
	}
	where := map[string][]string{} // pod -> nodebackups
	for _, nb := range list.Items {
		for _, a := range nb.Spec.Pods {
			where[a.Name] = append(where[a.Name], nb.Name)
		}
	}
	first, next := ChunkName("b1", "node-a", 0), ChunkName("b1", "node-a", 1)
	want := map[string][]string{"db-0": {first}, "gone": {first}, "web-0": {next}, "late-0": {next}}
	for pod, nbs := range want {
		if got := where[pod]; len(got) != 1 || got[0] != nbs[0] {
			t.Errorf("pod %s in nodebackups %v, want %v", pod, got, nbs)
		}
	}
	if len(list.Items) != 2 || !b.Status.Planned || b.Status.NodeBackupCount != 2 {
		t.Errorf("%d nodebackups, planned %v count %d: want the written one and one more", len(list.Items), b.Status.Planned, b.Status.NodeBackupCount)
	}
}
