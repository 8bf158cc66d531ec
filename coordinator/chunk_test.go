package coordinator

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// bigAssignment is a pod with list-form hooks, retries and volumes: the
// largest kind of pod a plan writes.
func bigAssignment(i int) api.PodAssignment {
	h := func(name string) api.ResolvedHook {
		return api.ResolvedHook{Name: name, Source: "annotation pre.hook.backup.quiesce.dev/hooks", Container: "db",
			Command: []string{"/bin/sh", "-c", strings.Repeat("x", 200)}, Timeout: metav1.Duration{Duration: time.Minute}, OnError: api.HookErrorModeFail, Retries: 2}
	}
	return api.PodAssignment{Namespace: "shop", Name: fmt.Sprintf("db-%d", i), UID: fmt.Sprintf("00000000-0000-0000-0000-%012d", i),
		PreHooks: []api.ResolvedHook{h("flush"), h("lock")}, PostHooks: []api.ResolvedHook{h("unlock")},
		Volumes: []api.VolumeAssignment{{Name: "data", PVC: "data", Source: "shop/db/data"}, {Name: "wal", Source: "shop/db/wal"}},
		Group:   &api.GroupRef{Name: fmt.Sprintf("g%d", i/5), Order: i % 5}}
}

// worstResult is the largest compact result a pod can report: every hook
// attempt recorded twice (held), every error at its bound.
func worstResult(a api.PodAssignment) api.PodResult {
	long := strings.Repeat("é", 4096)
	now := metav1.Now()
	d := metav1.Duration{Duration: time.Second}
	r := api.PodResult{Namespace: a.Namespace, Name: a.Name, UID: a.UID, Node: strings.Repeat("n", 63), Phase: api.PodFailed,
		Cause: api.CauseCapture, Reason: long, FreezeStart: &now, FreezeEnd: &now, Freeze: &d, ControlOverhead: &d, CompletionTime: &now}
	for _, h := range append(append([]api.ResolvedHook{}, a.PreHooks...), a.PostHooks...) {
		for range 2 * (1 + h.Retries) {
			r.Hooks = append(r.Hooks, api.HookResult{Name: h.Name, Phase: "pre", Source: h.Source, Container: h.Container,
				ExitCode: 137, Duration: d, TimedOut: true, Held: true, Error: long, Output: long})
		}
	}
	for _, v := range a.Volumes {
		r.Volumes = append(r.Volumes, api.VolumeResult{Name: v.Name, PVC: v.PVC, SnapshotID: strings.Repeat("k", 64), Files: 1 << 40,
			Bytes: 1 << 50, UploadedBytes: 1 << 50, Capture: d, Upload: d, Error: long})
	}
	return r.Compact()
}

// A node with 500 pods gets NodeBackups that each stay under the object
// limit once every pod reported its worst result, in plan order, every pod
// in exactly one.
func TestNodeBackupsChunkABigNode(t *testing.T) {
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "nightly"}}
	plan := Plan{Nodes: map[string]api.NodeBackupSpec{}}
	spec := api.NodeBackupSpec{BackupName: b.Name, NodeName: "node-a", MaxFreeze: metav1.Duration{Duration: time.Minute}}
	for i := range 500 {
		spec.Pods = append(spec.Pods, bigAssignment(i))
	}
	plan.Nodes["node-a"] = spec
	plan.Nodes["node-b"] = api.NodeBackupSpec{BackupName: b.Name, NodeName: "node-b", Pods: []api.PodAssignment{bigAssignment(999)}}
	for i := range 3000 {
		plan.Results = append(plan.Results, api.PodResult{Namespace: "other", Name: fmt.Sprintf("p-%d", i), Phase: api.PodSkipped,
			Reason: "pod is Pending, not Running"})
	}

	nbs := NodeBackups(b, plan, DefaultChunkLimits)
	next := 0
	var nodeA, leftOut int
	for _, nb := range nbs {
		for i := range nb.Spec.Pods {
			nb.Status.Pods = append(nb.Status.Pods, worstResult(nb.Spec.Pods[i]))
		}
		raw, err := json.Marshal(nb)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) >= api.MaxObjectBytes*3/4 {
			t.Errorf("nodebackup %s: %d bytes with %d pods, want under 3/4 of %d", nb.Name, len(raw), len(nb.Spec.Pods), api.MaxObjectBytes)
		}
		switch nb.Labels[LabelNode] {
		case "node-a":
			nodeA++
			for _, p := range nb.Spec.Pods {
				if p.Name != fmt.Sprintf("db-%d", next) {
					t.Fatalf("nodebackup %s holds %s, want db-%d (plan order)", nb.Name, p.Name, next)
				}
				next++
			}
		case "":
			leftOut++
			if nb.Spec.NodeName != "" || len(nb.Spec.Pods) != 0 {
				t.Errorf("left-out nodebackup %s: node %q, %d pods: want none (no agent acts on it)", nb.Name, nb.Spec.NodeName, len(nb.Spec.Pods))
			}
		}
	}
	if next != 500 || nodeA < 5 {
		t.Errorf("node-a: %d pods in %d nodebackups, want 500 in several", next, nodeA)
	}
	if nbs[0].Name != "nightly-node-a" || nbs[1].Name != "nightly-node-a-part1" {
		t.Errorf("names %s, %s: the first chunk keeps the unchunked name", nbs[0].Name, nbs[1].Name)
	}
	pods, done := api.BackupReport(nil, nbs)
	if len(pods) != 500+1+3000 || done {
		t.Errorf("report: %d pods, done %v; want 3501, not done (node-b's pod has no result)", len(pods), done)
	}
	if leftOut < 2 {
		t.Errorf("3000 left-out pods in %d nodebackups, want several", leftOut)
	}
}

func TestChunkKeepsAnOversizedItemAlone(t *testing.T) {
	got := chunk([]int{1, 50, 1, 1}, ChunkLimits{Pods: 10, Bytes: 10}, func(n int) int { return n })
	if fmt.Sprint(got) != "[[1] [50] [1 1]]" {
		t.Errorf("chunks %v", got)
	}
	got = chunk([]int{1, 1, 1, 1, 1}, ChunkLimits{Pods: 2, Bytes: 100}, func(n int) int { return n })
	if fmt.Sprint(got) != "[[1 1] [1 1] [1]]" {
		t.Errorf("chunks %v", got)
	}
}

// A NodeBackup carries the gates of its own pods' groups only.
func TestGatesFor(t *testing.T) {
	nb := &api.NodeBackup{Spec: api.NodeBackupSpec{Pods: []api.PodAssignment{{Name: "a", Group: &api.GroupRef{Name: "g2"}}, {Name: "b"}}}}
	got := gatesFor(nb, []api.GroupGate{{Group: "g1"}, {Group: "g2", FreezeUpTo: 3}, {Group: "g3"}})
	if len(got) != 1 || got[0].Group != "g2" || got[0].FreezeUpTo != 3 {
		t.Errorf("gates %+v, want g2's only", got)
	}
}

// A 5,000-pod backup with every pod failed keeps a bounded status: counts,
// the first failed pods, a bounded list of errors.
func TestAggregateIsBoundedWhateverThePodCount(t *testing.T) {
	var pods []api.PodResult
	for i := range 5000 {
		r := worstResult(bigAssignment(i))
		r.Namespace = fmt.Sprintf("ns-%04d", i)
		pods = append(pods, r)
	}
	pods = append(pods, api.PodResult{Namespace: "z", Name: "ok", Phase: api.PodCompleted})
	st := Aggregate(api.BackupStatus{}, pods, true)
	raw, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) >= api.MaxObjectBytes {
		t.Errorf("status of 5001 pods: %d bytes, want under %d", len(raw), api.MaxObjectBytes)
	}
	c := st.PodCounts
	if c.Total != 5001 || c.Failed != 5000 || c.Completed != 1 || st.Phase != api.BackupPhasePartiallyFailed {
		t.Errorf("counts %+v phase %s", c, st.Phase)
	}
	if len(st.FailedPods) != api.MaxFailedPods || st.FailedPods[0].Namespace != "ns-0000" || st.FailedPods[0].Hooks[0].Output != "" {
		t.Errorf("failed pods: %d, first %s: want the first %d by name, compact", len(st.FailedPods), st.FailedPods[0].Namespace, api.MaxFailedPods)
	}
	if len(st.Errors) != api.MaxMessages || !strings.HasPrefix(st.Errors[api.MaxMessages-1], "... and 4951 more errors") {
		t.Errorf("%d errors, last %q", len(st.Errors), st.Errors[len(st.Errors)-1])
	}
	if st.HooksAttempted != 5000*18 || st.HooksFailed != 5000*18 {
		t.Errorf("hooks %d/%d", st.HooksFailed, st.HooksAttempted)
	}
}
