package restore

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/kwait"
	"github.com/quiesce-dev/quiesce/internal/testenv"
)

// TestRunOnAPIServer runs a restore against a real kube-apiserver (with
// the chart's CRDs): real validation of every restored object, real
// watches (which start with the objects that exist), the status
// subresource, owner references. The test schedules the pods (binding)
// and plays the agents.
func TestRunOnAPIServer(t *testing.T) {
	cfg := startAPIServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cs := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	installCRDs(ctx, t, dyn)
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := api.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}

	// The cluster: quiesce's namespace with the Restore; shop exists with a
	// config map of its own; the volume of db-0's claim is Released (its
	// claim went with the namespace shop had before).
	for _, ns := range []string{"quiesce", "shop"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CoreV1().ConfigMaps("shop").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data: map[string]string{"mode": "staging"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pv, err := cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-db"},
		Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: "local",
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/db"}},
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: "shop", Name: "data-db-0", UID: "old-claim-uid"}}},
		metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv.Status.Phase = corev1.VolumeReleased
	if _, err := cs.CoreV1().PersistentVolumes().UpdateStatus(ctx, pv, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rs := &api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "r1"}, Spec: api.RestoreSpec{BackupName: "nightly"}}
	if err := c.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}

	go schedule(ctx, t, cs, map[string]string{"db-0": "node-a", "web-0": "node-b"})
	go playAgents(ctx, t, c)
	r := &Runner{Client: c, Dynamic: dyn, Resources: fakeLoader{doc: shopDoc(t, shopObjects)}, Log: zaptest.NewLogger(t),
		HelperImage: "docker.io/quiesce/quiesce:test", HelperPullPolicy: corev1.PullIfNotPresent}
	got, err := r.Run(ctx, types.NamespacedName{Namespace: "quiesce", Name: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	st := got.Status
	if st.Phase != api.RestorePhasePartiallyFailed || len(st.Errors) != 1 || !strings.Contains(st.Errors[0], "pod shop/db-0: hook") {
		t.Fatalf("phase %s errors %q items %+v warnings %q", st.Phase, st.Errors, st.Items, st.Warnings)
	}
	if it := item(got, "configmaps", "shop", "settings"); it == nil || it.Outcome != api.ItemExisted {
		t.Errorf("items %+v: want configmap shop/settings Existed", st.Items)
	}
	if it := item(got, "persistentvolumes", "", "pv-db"); it == nil || it.Outcome != api.ItemUpdated {
		t.Errorf("items %+v: want the Released pv-db Updated", st.Items)
	}
	pv, err = cs.CoreV1().PersistentVolumes().Get(ctx, "pv-db", metav1.GetOptions{})
	if err != nil || pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != "" || pv.Spec.ClaimRef.Name != "data-db-0" {
		t.Errorf("pv-db claimRef %+v (%v): want the old uid cleared", pv.Spec.ClaimRef, err)
	}
	if len(st.Pods) != 2 || !slices.Equal(st.NodeRestores, []string{"r1-node-a", "r1-node-b"}) || st.HooksAttempted != 1 || st.HooksFailed != 1 {
		t.Errorf("pods %+v noderestores %v hooks %d/%d", st.Pods, st.NodeRestores, st.HooksFailed, st.HooksAttempted)
	}
	var nr api.NodeRestore
	if err := c.Get(ctx, types.NamespacedName{Namespace: "quiesce", Name: "r1-node-a"}, &nr); err != nil {
		t.Fatal(err)
	}
	if len(nr.OwnerReferences) != 1 || nr.OwnerReferences[0].UID != got.UID || nr.Spec.Pods[0].UID == "" {
		t.Errorf("noderestore %+v", nr)
	}
	pod, err := cs.CoreV1().Pods("shop").Get(ctx, "db-0", metav1.GetOptions{})
	if err != nil || len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != api.RestoreWaitContainer || string(pod.UID) != nr.Spec.Pods[0].UID {
		t.Errorf("restored pod %+v (%v): want the wait init container first, the uid in the NodeRestore", pod.Spec.InitContainers, err)
	}
}

// installCRDs creates the chart's CRDs and waits until they are served.
func installCRDs(ctx context.Context, t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "charts", "quiesce", "crds", "*.yaml"))
	a := &applier{r: &Runner{Dynamic: dyn}, log: zaptest.NewLogger(t)}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		crd := &unstructured.Unstructured{Object: m}
		if _, err := dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := a.waitEstablished(ctx, crd.GetName()); err != nil {
			t.Fatalf("crd %s: %v", crd.GetName(), err)
		}
	}
}

// schedule binds each restored pod to its node as the scheduler would.
func schedule(ctx context.Context, t *testing.T, cs kubernetes.Interface, nodes map[string]string) {
	each(ctx, t, func() (watch.Interface, error) {
		return cs.CoreV1().Pods("shop").Watch(ctx, metav1.ListOptions{ResourceVersion: kwait.FromCache})
	}, func(ev watch.Event) {
		pod, ok := ev.Object.(*corev1.Pod)
		if !ok || pod.Spec.NodeName != "" {
			return
		}
		b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, UID: pod.UID}, Target: corev1.ObjectReference{Kind: "Node", Name: nodes[pod.Name]}}
		if err := cs.CoreV1().Pods("shop").Bind(ctx, b, metav1.CreateOptions{}); err != nil && !apierrors.IsConflict(err) {
			t.Errorf("bind %s: %v", pod.Name, err)
		}
	})
}

// each calls fn with every event of the watches open opens, one after the
// other (a watch closes on errors and timeouts), until ctx ends.
func each(ctx context.Context, t *testing.T, open func() (watch.Interface, error), fn func(watch.Event)) {
	for ctx.Err() == nil {
		w, err := open()
		if err != nil {
			if ctx.Err() == nil {
				t.Error(err)
			}
			return
		}
		for ev := range w.ResultChan() {
			fn(ev)
		}
		w.Stop()
	}
}

// playAgents finishes every pod of every NodeRestore: db-0's hook fails.
func playAgents(ctx context.Context, t *testing.T, c client.WithWatch) {
	each(ctx, t, func() (watch.Interface, error) {
		return c.Watch(ctx, &api.NodeRestoreList{}, client.InNamespace("quiesce"), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: kwait.FromCache}})
	}, func(ev watch.Event) {
		nr, ok := ev.Object.(*api.NodeRestore)
		if !ok || len(nr.Status.Pods) == len(nr.Spec.Pods) {
			return
		}
		nr.Status.Pods = nil
		for _, a := range nr.Spec.Pods {
			res := api.RestorePodResult{Namespace: a.Namespace, Name: a.Name, UID: a.UID, Phase: api.RestorePodCompleted}
			for _, v := range a.Volumes {
				res.Volumes = append(res.Volumes, api.VolumeRestoreResult{Name: v.Name, SnapshotID: v.SnapshotID, Files: 1, Bytes: 10})
			}
			for _, h := range a.Hooks {
				res.Phase = api.RestorePodPartiallyFailed
				res.Hooks = append(res.Hooks, api.HookResult{Name: h.Name, Phase: "post", Container: h.Container, ExitCode: 1})
			}
			nr.Status.Pods = append(nr.Status.Pods, res)
		}
		nr.Status.Done = true
		if err := c.Status().Update(ctx, nr); err != nil && !apierrors.IsConflict(err) {
			t.Errorf("noderestore %s status: %v", nr.Name, err)
		}
	})
}
