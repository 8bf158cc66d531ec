package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	dynfake "k8s.io/client-go/dynamic/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/yaml"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/resources"
)

// shopObjects is a backup's stored objects: a namespace, a config map, a
// claim with its volume, and two pods with backed-up volumes (db-0 also
// has a post-restore hook).
const shopObjects = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: prod}
---
` + volumeObjects + `
---
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  labels: {app: db}
  annotations:
    post.hook.restore.velero.io/container: db
    post.hook.restore.velero.io/command: '["/bin/sh", "-c", "touch /data/migrated"]'
spec:
  containers: [{name: db, image: postgres:17, volumeMounts: [{name: data, mountPath: /data}]}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data-db-0}}]
status: {phase: Running}
---
apiVersion: v1
kind: Pod
metadata: {name: web-0, namespace: shop, labels: {app: web}}
spec:
  containers: [{name: web, image: nginx:1.27, volumeMounts: [{name: cache, mountPath: /cache}]}]
  volumes: [{name: cache, emptyDir: {}}]
status: {phase: Running}
`

var resourceOf = map[string]struct {
	resource   string
	namespaced bool
}{
	"Namespace": {"namespaces", false}, "ConfigMap": {"configmaps", true}, "PersistentVolume": {"persistentvolumes", false},
	"PersistentVolumeClaim": {"persistentvolumeclaims", true}, "Pod": {"pods", true},
	"CustomResourceDefinition": {"customresourcedefinitions", false}, "Widget": {"widgets", true},
}

func items(t testing.TB, docs string) []resources.Item {
	t.Helper()
	var out []resources.Item
	for _, d := range strings.Split(docs, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("fixture: %v\n%s", err, d)
		}
		u := &unstructured.Unstructured{Object: m}
		k := resourceOf[u.GetKind()]
		gv, _ := schema.ParseGroupVersion(u.GetAPIVersion())
		out = append(out, resources.Item{Group: gv.Group, Version: gv.Version, Resource: k.resource, Kind: u.GetKind(),
			Namespaced: k.namespaced, Object: u})
	}
	return out
}

func shopDoc(t testing.TB, objects string) *resources.Document {
	return &resources.Document{
		FormatVersion: resources.FormatVersion,
		Backup: api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "nightly"},
			Status: api.BackupStatus{Phase: api.BackupPhaseCompleted}},
		Pods: []api.PodResult{
			{Namespace: "shop", Name: "db-0", Volumes: []api.VolumeResult{{Name: "data", PVC: "data-db-0", SnapshotID: "k-db"}}},
			{Namespace: "shop", Name: "web-0", Volumes: []api.VolumeResult{{Name: "cache", SnapshotID: "k-web"}}},
		},
		Items: items(t, objects),
	}
}

type fakeLoader struct {
	doc *resources.Document
	err error
}

func (l fakeLoader) Load(_ context.Context, backup string) (*resources.Document, error) {
	if l.err != nil {
		return nil, l.err
	}
	if backup != l.doc.Backup.Name {
		return nil, fmt.Errorf("backup %s: %w", backup, fsbackup.ErrNoResources)
	}
	return l.doc, nil
}

var listKinds = map[schema.GroupVersionResource]string{
	{Version: "v1", Resource: "namespaces"}:                    "NamespaceList",
	{Version: "v1", Resource: "configmaps"}:                    "ConfigMapList",
	{Version: "v1", Resource: "persistentvolumes"}:             "PersistentVolumeList",
	{Version: "v1", Resource: "persistentvolumeclaims"}:        "PersistentVolumeClaimList",
	{Version: "v1", Resource: "pods"}:                          "PodList",
	crdGVR:                                                     "CustomResourceDefinitionList",
	{Group: "example.com", Version: "v1", Resource: "widgets"}: "WidgetList",
}

// env is a Runner on fake clients: c holds Restores and NodeRestores, dyn
// the restored objects.
type env struct {
	t      *testing.T
	c      client.WithWatch
	dyn    *dynfake.FakeDynamicClient
	runner *Runner
	events *record.FakeRecorder
	key    types.NamespacedName
}

func newEnv(t *testing.T, spec api.RestoreSpec, doc *resources.Document, existing ...runtime.Object) *env {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := api.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if spec.BackupName == "" {
		spec.BackupName = "nightly"
	}
	rs := &api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "r1", UID: "r1-uid"}, Spec: spec}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(rs).
		WithStatusSubresource(&api.Restore{}, &api.NodeRestore{}).Build()
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, existing...)
	// The API server gives every object a uid.
	n := 0
	dyn.PrependReactor("create", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if u, ok := a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured); ok && u.GetUID() == "" {
			n++
			u.SetUID(types.UID(fmt.Sprintf("uid-%s-%d", u.GetName(), n)))
		}
		return false, nil, nil
	})
	events := record.NewFakeRecorder(100)
	return &env{t: t, c: c, dyn: dyn, events: events, key: types.NamespacedName{Namespace: "quiesce", Name: "r1"},
		runner: &Runner{Client: c, Dynamic: dyn, Resources: fakeLoader{doc: doc}, Log: zaptest.NewLogger(t), Events: events,
			HelperImage: "quiesce:test", HelperPullPolicy: corev1.PullIfNotPresent}}
}

func (e *env) run(ctx context.Context) *api.Restore {
	e.t.Helper()
	rs, err := e.runner.Run(ctx, e.key)
	if err != nil {
		e.t.Fatal(err)
	}
	return rs
}

// created lists the objects created through the dynamic client, in order.
func (e *env) created() []string {
	var out []string
	for _, a := range e.dyn.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok && a.GetVerb() == "create" {
			u := c.GetObject().(*unstructured.Unstructured)
			out = append(out, c.GetResource().Resource+"/"+objName(u.GetNamespace(), u.GetName()))
		}
	}
	return out
}

func (e *env) get(gvr schema.GroupVersionResource, ns, name string) *unstructured.Unstructured {
	e.t.Helper()
	u, err := e.dyn.Resource(gvr).Namespace(ns).Get(e.t.Context(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func obj(t testing.TB, s string) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

func item(rs *api.Restore, resource, ns, name string) *api.RestoredItem {
	for i, it := range rs.Status.Items {
		if it.Resource == resource && it.Namespace == ns && it.Name == name {
			return &rs.Status.Items[i]
		}
	}
	return nil
}

var (
	pvGVR  = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumes"}
	pvcGVR = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	cmGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

// TestRunRestoresAndFollowsAgents plays the scheduler and the agents: it
// places the restored pods on two nodes and reports their results on the
// NodeRestores the runner wrote, and checks the Restore ends with them.
func TestRunRestoresAndFollowsAgents(t *testing.T) {
	existing := obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: shop}, data: {mode: staging}}`)
	e := newEnv(t, api.RestoreSpec{}, shopDoc(t, shopObjects), existing)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan *api.Restore, 1)
	go func() {
		rs, err := e.runner.Run(ctx, e.key)
		if err != nil {
			t.Error(err)
		}
		done <- rs
	}()

	// The scheduler: db-0 to node-a, web-0 to node-b.
	pw, err := e.dyn.Resource(podsGVR).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for len(uids) < 2 {
		ev := <-pw.ResultChan()
		pod := ev.Object.(*unstructured.Unstructured)
		if _, seen := uids[pod.GetName()]; seen {
			continue
		}
		uids[pod.GetName()] = string(pod.GetUID())
		node := map[string]string{"db-0": "node-a", "web-0": "node-b"}[pod.GetName()]
		if err := unstructured.SetNestedField(pod.Object, node, "spec", "nodeName"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.dyn.Resource(podsGVR).Namespace("shop").Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	pw.Stop()

	// The agents.
	nw, err := e.c.Watch(ctx, &api.NodeRestoreList{}, client.InNamespace("quiesce"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		var ev = <-nw.ResultChan()
		nr, ok := ev.Object.(*api.NodeRestore)
		if !ok || seen[nr.Name] {
			continue
		}
		seen[nr.Name] = true
		if nr.Name != "r1-"+nr.Spec.NodeName || nr.Labels[api.LabelRestore] != "r1" || nr.Labels[api.LabelNode] != nr.Spec.NodeName ||
			len(nr.OwnerReferences) != 1 || nr.OwnerReferences[0].UID != "r1-uid" || nr.Spec.RestoreUID != "r1-uid" {
			t.Errorf("noderestore %s: labels %v owners %v spec %+v", nr.Name, nr.Labels, nr.OwnerReferences, nr.Spec)
		}
		if len(nr.Spec.Pods) != 1 {
			t.Fatalf("noderestore %s pods %+v, want 1", nr.Name, nr.Spec.Pods)
		}
		a := nr.Spec.Pods[0]
		res := api.RestorePodResult{Namespace: a.Namespace, Name: a.Name, UID: a.UID, Phase: api.RestorePodCompleted,
			Volumes: []api.VolumeRestoreResult{{Name: a.Volumes[0].Name, SnapshotID: a.Volumes[0].SnapshotID, Files: 3, Bytes: 42}}}
		switch a.Name {
		case "db-0":
			if a.UID != uids["db-0"] || nr.Spec.NodeName != "node-a" || a.Volumes[0].SnapshotID != "k-db" || len(a.Hooks) != 1 ||
				a.Hooks[0].WaitTimeout.Duration <= 0 || a.Hooks[0].WaitTimeout.Duration > time.Hour {
				t.Errorf("db-0 assignment %+v on %s", a, nr.Spec.NodeName)
			}
			res.Phase = api.RestorePodPartiallyFailed
			res.Hooks = []api.HookResult{{Name: a.Hooks[0].Name, Phase: "post", Container: "db", ExitCode: 3, Output: "no such table"}}
		case "web-0":
			if a.UID != uids["web-0"] || nr.Spec.NodeName != "node-b" || a.Volumes[0].SnapshotID != "k-web" || len(a.Hooks) != 0 {
				t.Errorf("web-0 assignment %+v on %s", a, nr.Spec.NodeName)
			}
		}
		nr.Status.Pods, nr.Status.Done = []api.RestorePodResult{res}, true
		if err := e.c.Status().Update(ctx, nr); err != nil {
			t.Fatal(err)
		}
	}
	nw.Stop()

	rs := <-done
	if rs == nil {
		t.FailNow()
	}
	st := rs.Status
	if st.Phase != api.RestorePhasePartiallyFailed || st.StartTimestamp == nil || st.CompletionTimestamp == nil {
		t.Fatalf("phase %s start %v end %v errors %q", st.Phase, st.StartTimestamp, st.CompletionTimestamp, st.Errors)
	}
	if len(st.Errors) != 1 || !strings.Contains(st.Errors[0], "pod shop/db-0: hook") || !strings.Contains(st.Errors[0], "exit 3") {
		t.Errorf("errors %q: want db-0's failed hook", st.Errors)
	}
	if st.HooksAttempted != 1 || st.HooksFailed != 1 || len(st.Pods) != 2 || !slices.Equal(st.NodeRestores, []string{"r1-node-a", "r1-node-b"}) {
		t.Errorf("hooks %d/%d pods %+v nodeRestores %v", st.HooksFailed, st.HooksAttempted, st.Pods, st.NodeRestores)
	}
	// Dependency order: the namespace, the volume before its claim, the
	// claim before its pod.
	order := e.created()
	pos := func(s string) int {
		i := slices.Index(order, s)
		if i < 0 {
			t.Fatalf("%s not created; created %v", s, order)
		}
		return i
	}
	if !(pos("namespaces/shop") < pos("persistentvolumes/pv-db") && pos("persistentvolumes/pv-db") < pos("persistentvolumeclaims/shop/data-db-0") &&
		pos("persistentvolumeclaims/shop/data-db-0") < pos("pods/shop/db-0")) {
		t.Errorf("creation order %v", order)
	}
	// The existing config map is left alone and reported.
	if it := item(rs, "configmaps", "shop", "settings"); it == nil || it.Outcome != api.ItemExisted {
		t.Errorf("items %+v: want configmap shop/settings Existed", st.Items)
	}
	if mode, _, _ := unstructured.NestedString(e.get(cmGVR, "shop", "settings").Object, "data", "mode"); mode != "staging" {
		t.Errorf("existing configmap changed: mode %q", mode)
	}
	if st.Progress.TotalItems != len(order) || st.Progress.ItemsRestored != len(order)-1 {
		t.Errorf("progress %+v, %d created", st.Progress, len(order))
	}
	if !slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.HasPrefix(w, "1 objects already existed") }) {
		t.Errorf("warnings %q: want the existing object counted", st.Warnings)
	}
	wantEvents(t, e.events, "Normal RestoreStarted", "Warning RestorePodPartiallyFailed pod shop/db-0 on node node-a: hook",
		"Warning RestorePartiallyFailed")

	// A second run of a final restore changes nothing.
	again := e.run(ctx)
	if again.ResourceVersion != rs.ResourceVersion {
		t.Errorf("rerun changed the restore")
	}
}

func wantEvents(t *testing.T, rec *record.FakeRecorder, prefixes ...string) {
	t.Helper()
	var got []string
	for len(rec.Events) > 0 {
		got = append(got, <-rec.Events)
	}
	for _, p := range prefixes {
		if !slices.ContainsFunc(got, func(e string) bool { return strings.HasPrefix(e, p) }) {
			t.Errorf("no event %q in %q", p, got)
		}
	}
}

func TestExistingResourcePolicy(t *testing.T) {
	const objects = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: prod}`
	for _, tc := range []struct {
		policy  api.ExistingResourcePolicy
		outcome api.RestoreItemOutcome
		mode    string
	}{
		{"", api.ItemExisted, "staging"},
		{api.ExistingResourcePolicyNone, api.ItemExisted, "staging"},
		{api.ExistingResourcePolicyUpdate, api.ItemUpdated, "prod"},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			existing := obj(t, `{apiVersion: v1, kind: ConfigMap, metadata: {name: settings, namespace: shop, resourceVersion: "7"}, data: {mode: staging}}`)
			e := newEnv(t, api.RestoreSpec{ExistingResourcePolicy: tc.policy}, shopDoc(t, objects), existing)
			rs := e.run(t.Context())
			if rs.Status.Phase != api.RestorePhaseCompleted {
				t.Errorf("phase %s errors %q", rs.Status.Phase, rs.Status.Errors)
			}
			if it := item(rs, "configmaps", "shop", "settings"); it == nil || it.Outcome != tc.outcome {
				t.Errorf("items %+v: want settings %s", rs.Status.Items, tc.outcome)
			}
			cm := e.get(cmGVR, "shop", "settings")
			if mode, _, _ := unstructured.NestedString(cm.Object, "data", "mode"); mode != tc.mode {
				t.Errorf("configmap mode %q, want %q", mode, tc.mode)
			}
			if tc.outcome == api.ItemUpdated && cm.GetLabels()[api.LabelRestore] != "r1" {
				t.Errorf("updated configmap labels %v", cm.GetLabels())
			}
		})
	}
}

const volumeObjects = `
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-db}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  storageClassName: local
  hostPath: {path: /srv/db}
  claimRef: {namespace: shop, name: data-db-0, uid: old-claim-uid}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data-db-0
  namespace: shop
  annotations: {pv.kubernetes.io/bind-completed: "yes"}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: local
  volumeName: pv-db
  resources: {requests: {storage: 1Gi}}`

// TestReleasedVolumeIsRebound: the claim was deleted with its namespace,
// its volume (Retain) is Released with the old claim's uid: the restore
// clears that uid so the restored claim binds to the volume and its data.
func TestReleasedVolumeIsRebound(t *testing.T) {
	pv := obj(t, `
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-db, resourceVersion: "9"}
spec:
  hostPath: {path: /srv/db}
  claimRef: {kind: PersistentVolumeClaim, namespace: shop, name: data-db-0, uid: old-claim-uid, resourceVersion: "4"}
status: {phase: Released}`)
	e := newEnv(t, api.RestoreSpec{}, shopDoc(t, volumeObjects), pv)
	rs := e.run(t.Context())
	if rs.Status.Phase != api.RestorePhaseCompleted {
		t.Fatalf("phase %s errors %q", rs.Status.Phase, rs.Status.Errors)
	}
	it := item(rs, "persistentvolumes", "", "pv-db")
	if it == nil || it.Outcome != api.ItemUpdated || !strings.Contains(it.Message, "cleared its claimRef uid") {
		t.Fatalf("items %+v: want pv-db Updated", rs.Status.Items)
	}
	ref, _, _ := unstructured.NestedStringMap(e.get(pvGVR, "", "pv-db").Object, "spec", "claimRef")
	if ref["uid"] != "" || ref["resourceVersion"] != "" || ref["name"] != "data-db-0" || ref["namespace"] != "shop" {
		t.Errorf("claimRef %v: want the uid and resourceVersion cleared, the claim kept", ref)
	}
	if l := e.get(pvGVR, "", "pv-db").GetLabels(); l[api.LabelRestore] != "r1" {
		t.Errorf("rebound volume labels %v: want the restore's label", l)
	}
	if vol, _, _ := unstructured.NestedString(e.get(pvcGVR, "shop", "data-db-0").Object, "spec", "volumeName"); vol != "pv-db" {
		t.Errorf("claim volumeName %q, want pv-db", vol)
	}
}

// TestVolumeClaimedElsewhere: restoring into another namespace while the
// original runs: the volume stays with its claim, the restored claim goes
// without volumeName (a provisioner gives it a new volume), with warnings.
func TestVolumeClaimedElsewhere(t *testing.T) {
	pv := obj(t, `
apiVersion: v1
kind: PersistentVolume
metadata: {name: pv-db}
spec:
  claimRef: {namespace: shop, name: data-db-0, uid: live-claim-uid}
status: {phase: Bound}`)
	e := newEnv(t, api.RestoreSpec{NamespaceMapping: map[string]string{"shop": "shop-copy"}}, shopDoc(t, volumeObjects), pv)
	rs := e.run(t.Context())
	if rs.Status.Phase != api.RestorePhaseCompleted {
		t.Fatalf("phase %s errors %q", rs.Status.Phase, rs.Status.Errors)
	}
	if it := item(rs, "persistentvolumes", "", "pv-db"); it == nil || it.Outcome != api.ItemExisted || !strings.Contains(it.Message, "claimed by shop/data-db-0") {
		t.Errorf("items %+v: want pv-db Existed, claimed by shop/data-db-0", rs.Status.Items)
	}
	claim := e.get(pvcGVR, "shop-copy", "data-db-0")
	if vol, found, _ := unstructured.NestedString(claim.Object, "spec", "volumeName"); found {
		t.Errorf("restored claim volumeName %q, want none", vol)
	}
	if _, ok := claim.GetAnnotations()["pv.kubernetes.io/bind-completed"]; ok {
		t.Errorf("restored claim keeps bind-completed")
	}
	if ref, _, _ := unstructured.NestedString(e.get(pvGVR, "", "pv-db").Object, "spec", "claimRef", "uid"); ref != "live-claim-uid" {
		t.Errorf("the live volume's claimRef changed: uid %q", ref)
	}
	w := strings.Join(rs.Status.Warnings, "\n")
	if !strings.Contains(w, "persistentvolume pv-db (Bound) is claimed by shop/data-db-0, not by the restored claim shop-copy/data-db-0") ||
		!strings.Contains(w, "persistentvolumeclaim shop-copy/data-db-0: its volume pv-db is claimed by shop/data-db-0") {
		t.Errorf("warnings:\n%s", w)
	}
}

// TestCRDEstablishedBeforeItsResources: a custom resource is created only
// once its definition is established.
func TestCRDEstablishedBeforeItsResources(t *testing.T) {
	const objects = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {plural: widgets, kind: Widget}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: shop}
spec: {size: 3}`
	e := newEnv(t, api.RestoreSpec{}, shopDoc(t, objects))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	established := make(chan struct{})
	// The API server establishes the definition a moment after its create.
	w, err := e.dyn.Resource(crdGVR).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		ev := <-w.ResultChan()
		crd := ev.Object.(*unstructured.Unstructured)
		if created := e.created(); slices.ContainsFunc(created, func(s string) bool { return strings.HasPrefix(s, "widgets/") }) {
			t.Errorf("widget created before its definition was established: %v", created)
		}
		_ = unstructured.SetNestedSlice(crd.Object, []any{map[string]any{"type": "Established", "status": "True"}}, "status", "conditions")
		if _, err := e.dyn.Resource(crdGVR).Update(ctx, crd, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
		close(established)
	}()
	rs := e.run(ctx)
	<-established
	if rs.Status.Phase != api.RestorePhaseCompleted {
		t.Fatalf("phase %s errors %q", rs.Status.Phase, rs.Status.Errors)
	}
	if got := e.created(); !slices.Contains(got, "widgets/shop/w1") {
		t.Errorf("created %v", got)
	}
}

func TestMissingBackupFails(t *testing.T) {
	e := newEnv(t, api.RestoreSpec{BackupName: "nope"}, shopDoc(t, shopObjects))
	rs := e.run(t.Context())
	st := rs.Status
	if st.Phase != api.RestorePhaseFailed || st.CompletionTimestamp == nil {
		t.Fatalf("phase %s", st.Phase)
	}
	for _, want := range []string{`backup "nope"`, "no stored resources", "check that the Backup exists"} {
		if !strings.Contains(st.FailureReason, want) {
			t.Errorf("failureReason %q does not say %q", st.FailureReason, want)
		}
	}
	wantEvents(t, e.events, "Warning RestoreFailed backup \"nope\"")
	if len(e.dyn.Actions()) != 0 {
		t.Errorf("a failed restore touched the cluster: %v", e.dyn.Actions())
	}
}

func TestUnreachableRepositoryFails(t *testing.T) {
	e := newEnv(t, api.RestoreSpec{}, shopDoc(t, shopObjects))
	e.runner.Resources = fakeLoader{err: errors.New("dial tcp 198.18.0.9:9000: connection refused")}
	rs := e.run(t.Context())
	if rs.Status.Phase != api.RestorePhaseFailed || !strings.Contains(rs.Status.FailureReason, "connection refused") ||
		!strings.Contains(rs.Status.FailureReason, "repository flags") {
		t.Errorf("phase %s reason %q", rs.Status.Phase, rs.Status.FailureReason)
	}
}

func TestPlanErrorFails(t *testing.T) {
	e := newEnv(t, api.RestoreSpec{NamespaceMapping: map[string]string{"shop": "Not_A_Namespace"}}, shopDoc(t, shopObjects))
	rs := e.run(t.Context())
	if rs.Status.Phase != api.RestorePhaseFailed || !strings.Contains(rs.Status.FailureReason, "plan the restore") {
		t.Errorf("phase %s reason %q", rs.Status.Phase, rs.Status.FailureReason)
	}
}

func TestNodeRestoreName(t *testing.T) {
	if got := nodeRestoreName("r1", "node-a"); got != "r1-node-a" {
		t.Errorf("short name %q", got)
	}
	long := strings.Repeat("nightly-", 6) + "20261126020000"
	a, b := nodeRestoreName(long, "ip-10-0-1-17.eu-west-1.compute.internal"), nodeRestoreName(long, "ip-10-0-1-18.eu-west-1.compute.internal")
	if len(a) > 63 || len(b) > 63 || a == b || a != nodeRestoreName(long, "ip-10-0-1-17.eu-west-1.compute.internal") {
		t.Errorf("long names %q %q", a, b)
	}
}

// TestFailedItemsAndExistingPod: an object the API refuses fails alone
// (the rest is restored: PartiallyFailed, with the reason); a pod that
// already existed gets no volume restore and no NodeRestore, with a warning.
func TestFailedItemsAndExistingPod(t *testing.T) {
	existing := obj(t, `{apiVersion: v1, kind: Pod, metadata: {name: db-0, namespace: shop, uid: live-db}, spec: {nodeName: node-a}}`)
	e := newEnv(t, api.RestoreSpec{}, shopDoc(t, shopObjects), existing)
	e.dyn.PrependReactor("create", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "settings", errors.New("quota exceeded"))
	})
	// web-0 is scheduled and its agent finishes it.
	e.dyn.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		_ = unstructured.SetNestedField(a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured).Object, "node-b", "spec", "nodeName")
		return false, nil, nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// The watch opens before the run: the fake does not replay what it missed.
	w, err := e.c.Watch(ctx, &api.NodeRestoreList{}, client.InNamespace("quiesce"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		nr := (<-w.ResultChan()).Object.(*api.NodeRestore)
		a := nr.Spec.Pods[0]
		nr.Status.Pods = []api.RestorePodResult{{Namespace: a.Namespace, Name: a.Name, UID: a.UID, Phase: api.RestorePodCompleted}}
		if err := e.c.Status().Update(ctx, nr); err != nil {
			t.Error(err)
		}
	}()
	rs := e.run(ctx)
	st := rs.Status
	if st.Phase != api.RestorePhasePartiallyFailed || len(st.Errors) != 1 || !strings.Contains(st.Errors[0], "configmaps shop/settings: create:") ||
		!strings.Contains(st.Errors[0], "quota exceeded") {
		t.Fatalf("phase %s errors %q", st.Phase, st.Errors)
	}
	if it := item(rs, "pods", "shop", "db-0"); it == nil || it.Outcome != api.ItemExisted {
		t.Errorf("items %+v: want pod db-0 Existed", st.Items)
	}
	if !slices.ContainsFunc(st.Warnings, func(w string) bool {
		return strings.Contains(w, "pod shop/db-0 was not created by this restore (its outcome was Existed): its volume data is not restored")
	}) {
		t.Errorf("warnings %q", st.Warnings)
	}
	if len(st.Pods) != 1 || st.Pods[0].Name != "web-0" || !slices.Equal(st.NodeRestores, []string{"r1-node-b"}) {
		t.Errorf("pods %+v noderestores %v: want web-0 only", st.Pods, st.NodeRestores)
	}
	wantEvents(t, e.events, "Warning RestoreItemFailed configmaps shop/settings: create:", "Warning RestorePartiallyFailed")
}

// TestNothingRestoredFails: when the API refuses every object, the Restore
// is Failed, not PartiallyFailed.
func TestNothingRestoredFails(t *testing.T) {
	e := newEnv(t, api.RestoreSpec{}, shopDoc(t, shopObjects))
	e.dyn.PrependReactor("create", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is down")
	})
	rs := e.run(t.Context())
	if rs.Status.Phase != api.RestorePhaseFailed || !strings.Contains(rs.Status.FailureReason, "none of the backup's 6 objects could be restored") {
		t.Errorf("phase %s reason %q", rs.Status.Phase, rs.Status.FailureReason)
	}
}

// TestTerminatingNamespace: the namespace was deleted just before the
// restore and is still terminating: the restore waits until it is gone and
// creates it again, instead of having everything in it refused.
func TestTerminatingNamespace(t *testing.T) {
	const objects = `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data: {mode: prod}`
	nsGVR := schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	old := obj(t, `{apiVersion: v1, kind: Namespace, metadata: {name: shop, uid: old-ns}, status: {phase: Terminating}}`)
	e := newEnv(t, api.RestoreSpec{}, shopDoc(t, objects), old)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// The namespace controller finishes once the restore has seen it.
	var once sync.Once
	e.dyn.PrependReactor("get", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		once.Do(func() {
			go func() {
				if err := e.dyn.Resource(nsGVR).Delete(ctx, "shop", metav1.DeleteOptions{}); err != nil {
					t.Error(err)
				}
			}()
		})
		return false, nil, nil
	})
	rs := e.run(ctx)
	if rs.Status.Phase != api.RestorePhaseCompleted || len(rs.Status.Items) != 0 {
		t.Fatalf("phase %s items %+v errors %q", rs.Status.Phase, rs.Status.Items, rs.Status.Errors)
	}
	if ns := e.get(nsGVR, "", "shop"); ns.GetUID() == "old-ns" || ns.GetLabels()[api.LabelRestore] != "r1" {
		t.Errorf("namespace %+v: want the restored one", ns.Object)
	}
}

// TestUnexpectedErrorFails: an error the runner cannot work around (the
// NodeRestore is refused) still ends the Restore, Failed with the reason.
func TestUnexpectedErrorFails(t *testing.T) {
	e := newEnv(t, api.RestoreSpec{}, shopDoc(t, shopObjects))
	e.c = interceptor.NewClient(e.c.(client.WithWatch), interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if _, ok := obj.(*api.NodeRestore); ok {
				return apierrors.NewForbidden(schema.GroupResource{Group: "quiesce.dev", Resource: "noderestores"}, obj.GetName(), errors.New("RBAC"))
			}
			return c.Create(ctx, obj, opts...)
		},
	})
	e.runner.Client = e.c
	e.dyn.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		_ = unstructured.SetNestedField(a.(k8stesting.CreateAction).GetObject().(*unstructured.Unstructured).Object, "node-a", "spec", "nodeName")
		return false, nil, nil
	})
	rs := e.run(t.Context())
	if rs.Status.Phase != api.RestorePhaseFailed || !strings.Contains(rs.Status.FailureReason, "create noderestore r1-node-a") ||
		!strings.Contains(rs.Status.FailureReason, "RBAC") || rs.Status.CompletionTimestamp == nil {
		t.Errorf("phase %s reason %q", rs.Status.Phase, rs.Status.FailureReason)
	}
}

// TestCallerStopLeavesRestoreToResume: a runner stopped by its caller (not
// by the restore's timeout) returns an error and leaves the Restore
// InProgress for the next run.
func TestCallerStopLeavesRestoreToResume(t *testing.T) {
	e := newEnv(t, api.RestoreSpec{}, shopDoc(t, shopObjects))
	ctx, cancel := context.WithCancel(t.Context())
	// Stop the runner once it waits for the pods to be scheduled.
	e.dyn.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		cancel()
		return false, nil, nil
	})
	if _, err := e.runner.Run(ctx, e.key); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want canceled", err)
	}
	var rs api.Restore
	if err := e.c.Get(t.Context(), e.key, &rs); err != nil {
		t.Fatal(err)
	}
	if rs.Status.Phase != api.RestorePhaseInProgress || rs.Status.CompletionTimestamp != nil {
		t.Errorf("phase %s: want InProgress", rs.Status.Phase)
	}
}
