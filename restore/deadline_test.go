package restore

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// TestDeadlineFailsWhatIsNotFinal: one pod is never scheduled, the agent
// of the other never finishes it. At the restore's timeout (fake time:
// the minute passes at once) both fail with why, and the Restore is final.
func TestDeadlineFailsWhatIsNotFinal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, api.RestoreSpec{Timeout: &metav1.Duration{Duration: time.Minute}}, shopDoc(t, shopObjects))
		e.dyn.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			pod := a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured)
			if pod.GetName() == "db-0" {
				_ = unstructured.SetNestedField(pod.Object, "node-a", "spec", "nodeName")
			} else {
				_ = unstructured.SetNestedSlice(pod.Object, []any{map[string]any{"type": "PodScheduled", "status": "False",
					"reason": "Unschedulable", "message": "0/2 nodes are available: 2 Insufficient memory."}}, "status", "conditions")
			}
			return false, nil, nil
		})
		ctx := t.Context()
		// The agent of node-a starts on db-0 and never finishes.
		// The watch opens before the run: the fake does not replay what it missed.
		w, err := e.c.Watch(ctx, &api.NodeRestoreList{}, client.InNamespace("quiesce"))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer w.Stop()
			ev := <-w.ResultChan()
			nr := ev.Object.(*api.NodeRestore)
			a := nr.Spec.Pods[0]
			nr.Status.Pods = []api.RestorePodResult{{Namespace: a.Namespace, Name: a.Name, UID: a.UID, Phase: api.RestorePodRestoringVolumes}}
			if err := e.c.Status().Update(ctx, nr); err != nil {
				t.Error(err)
			}
		}()
		start := time.Now()
		rs := e.run(ctx)
		if waited := time.Since(start); waited != time.Minute {
			t.Errorf("the restore ended after %s, want its timeout 1m", waited)
		}
		st := rs.Status
		if st.Phase != api.RestorePhasePartiallyFailed || st.CompletionTimestamp == nil {
			t.Fatalf("phase %s completion %v", st.Phase, st.CompletionTimestamp)
		}
		reasons := map[string]string{}
		for _, p := range st.Pods {
			if p.Phase != api.RestorePodFailed {
				t.Errorf("pod %s phase %s, want Failed", p.Name, p.Phase)
			}
			reasons[p.Name] = p.Reason
		}
		if want := "timed out after 1m0s waiting for the agent on node node-a: RestoringVolumes"; reasons["db-0"] != want {
			t.Errorf("db-0 reason %q, want %q", reasons["db-0"], want)
		}
		if want := "not scheduled within the restore timeout 1m0s: Unschedulable 0/2 nodes are available: 2 Insufficient memory."; reasons["web-0"] != want {
			t.Errorf("web-0 reason %q, want %q", reasons["web-0"], want)
		}
		if errs := strings.Join(st.Errors, "\n"); !strings.Contains(errs, "pod shop/db-0: timed out") || !strings.Contains(errs, "pod shop/web-0: not scheduled") {
			t.Errorf("errors:\n%s", errs)
		}
	})
}

// TestResumeDoesNotRepeatWork: a runner restarted on an InProgress Restore
// finds its own objects (Created, not Existed) and its NodeRestore, adds
// the pod it had not assigned yet to that NodeRestore, and finishes.
func TestResumeDoesNotRepeatWork(t *testing.T) {
	mine := func(s string) *unstructured.Unstructured {
		u := obj(t, s)
		u.SetLabels(map[string]string{api.LabelRestore: "r1"})
		return u
	}
	existing := []runtime.Object{
		mine(`{apiVersion: v1, kind: Namespace, metadata: {name: shop}}`),
		mine(`{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: shop}}`),
		mine(`{apiVersion: v1, kind: PersistentVolume, metadata: {name: pv-db}, spec: {claimRef: {namespace: shop, name: data-db-0}}, status: {phase: Bound}}`),
		mine(`{apiVersion: v1, kind: PersistentVolumeClaim, metadata: {name: data-db-0, namespace: shop}}`),
		mine(`{apiVersion: v1, kind: Pod, metadata: {name: db-0, namespace: shop, uid: db-uid}, spec: {nodeName: node-a}}`),
	}
	e := newEnv(t, api.RestoreSpec{}, shopDoc(t, shopObjects), existing...)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// The earlier run: InProgress, db-0 assigned and done on node-a.
	var rs api.Restore
	if err := e.c.Get(ctx, e.key, &rs); err != nil {
		t.Fatal(err)
	}
	start := metav1.Now()
	rs.Status = api.RestoreStatus{Phase: api.RestorePhaseInProgress, StartTimestamp: &start}
	if err := e.c.Status().Update(ctx, &rs); err != nil {
		t.Fatal(err)
	}
	nr := &api.NodeRestore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "r1-node-a", Labels: map[string]string{api.LabelRestore: "r1", api.LabelNode: "node-a"}},
		Spec: api.NodeRestoreSpec{RestoreName: "r1", NodeName: "node-a", Pods: []api.RestorePodAssignment{{Namespace: "shop", Name: "db-0", UID: "db-uid"}}}}
	if err := e.c.Create(ctx, nr); err != nil {
		t.Fatal(err)
	}
	nr.Status.Pods = []api.RestorePodResult{{Namespace: "shop", Name: "db-0", UID: "db-uid", Phase: api.RestorePodCompleted}}
	if err := e.c.Status().Update(ctx, nr); err != nil {
		t.Fatal(err)
	}
	// web-0 is created now, and scheduled to node-a as well.
	e.dyn.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		_ = unstructured.SetNestedField(a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured).Object, "node-a", "spec", "nodeName")
		return false, nil, nil
	})
	// The agent of node-a finishes web-0 once it is added. Its watch is
	// open before the run starts: the fake does not replay what it missed.
	w, err := e.c.Watch(ctx, &api.NodeRestoreList{}, client.InNamespace("quiesce"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			nr := ev.Object.(*api.NodeRestore)
			if len(nr.Spec.Pods) != 2 || len(nr.Status.Pods) == 2 {
				continue
			}
			a := nr.Spec.Pods[1]
			nr.Status.Pods = append(nr.Status.Pods, api.RestorePodResult{Namespace: a.Namespace, Name: a.Name, UID: a.UID, Phase: api.RestorePodCompleted})
			if err := e.c.Status().Update(ctx, nr); err != nil {
				t.Error(err)
			}
			return
		}
	}()
	got := e.run(ctx)
	st := got.Status
	if st.Phase != api.RestorePhaseCompleted || len(st.Items) != 0 || st.StartTimestamp.Unix() != start.Unix() {
		t.Fatalf("phase %s items %+v errors %q start %v", st.Phase, st.Items, st.Errors, st.StartTimestamp)
	}
	var list api.NodeRestoreList
	if err := e.c.List(ctx, &list, client.InNamespace("quiesce")); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || len(list.Items[0].Spec.Pods) != 2 || list.Items[0].Spec.Pods[0].UID != "db-uid" {
		t.Errorf("noderestores %+v: want r1-node-a with db-0 and web-0", list.Items)
	}
	if len(st.Pods) != 2 || st.Pods[0].Phase != api.RestorePodCompleted || st.Pods[1].Phase != api.RestorePodCompleted {
		t.Errorf("pods %+v", st.Pods)
	}
	if got := e.created(); len(got) != 6 {
		t.Errorf("created %v", got)
	}
}
