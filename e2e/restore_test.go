package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// TestRestoreDeletedNamespace backs up a namespace holding a Deployment with
// an emptyDir, a StatefulSet with a claim on a local PersistentVolume, a
// ConfigMap and a Secret; deletes the namespace and wipes the volume's
// directory; restores it from a Velero Restore manifest whose apiVersion
// alone was changed. Then, from inside the restored pods: every volume holds
// the backed-up bytes, the init hook saw the restored data and ran before the
// app, and the post-restore hook ran after the app was up.
func TestRestoreDeletedNamespace(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qrest")
	repoDir := "/var/lib/quiesce-e2e-repos/" + sys
	installChart(t, c, sys, repoDir)

	pvDir := localPV(t, c, app, "node-b")
	// web runs on node-a when backed up and on node-b when restored: the
	// node label its nodeSelector names moves in between, so node-b's
	// agent restores a snapshot node-a's agent wrote.
	webNode := "e2e.quiesce.dev/web-" + app
	labelNode(t, c, "node-a", webNode, "yes")
	webDep := webDeployment("web", "node-a")
	webDep.Spec.Template.Spec.NodeSelector = map[string]string{webNode: "yes"}
	objs := []client.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"mode": "production"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds"}, StringData: map[string]string{"password": "s3cret"}},
		webDep,
		dbStatefulSet(app),
	}
	kc := apiClient(t, c)
	for _, o := range objs {
		o.SetNamespace(app)
		if err := kc.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
	// A custom resource whose definition goes with the namespace: the
	// restore must bring the CRD back, wait until it is established, and
	// only then create the widget.
	widgets := widgetCRD(t, c, app)
	dyn := dynamic.NewForConfigOrDie(c.Config)
	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": widgets.Group + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "gear", "namespace": app},
		"spec":     map[string]any{"teeth": int64(42)},
	}}
	if _, err := dyn.Resource(widgets).Namespace(app).Create(ctx, widget, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create widget: %v", err)
	}
	web := waitLabelledPod(t, c, app, "app=web")
	db := waitLabelledPod(t, c, app, "app=db")
	before := map[string]string{
		"web": checksum(t, c, app, web, "/data/blob"),
		"db":  checksum(t, c, app, db, "/data/blob"),
	}

	out, err := run(t, nil, "quiesce", "backup", "create", "full", "--kubeconfig", c.Kubeconfig, "-n", sys,
		"--include-namespaces", app, "--wait")
	t.Logf("quiesce backup create:\n%s", out)
	if err != nil {
		t.Fatalf("backup create: %v", err)
	}
	var b api.Backup
	if err := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: "full"}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Status.Phase != api.BackupPhaseCompleted || b.Status.Progress.ItemsBackedUp == 0 {
		t.Fatalf("backup = %s with %d objects stored (errors %v): want Completed with objects", b.Status.Phase, b.Status.Progress.ItemsBackedUp, b.Status.Errors)
	}
	desc, err := run(t, []string{"QUIESCE_REPO_PASSWORD=e2e-password"}, "quiesce", "backup", "describe", "full", "--details",
		"--kubeconfig", c.Kubeconfig, "-n", sys, "--repo", repoDir, "--cache-dir", t.TempDir())
	t.Logf("backup describe --details:\n%s", desc)
	for _, want := range []string{"deployments.apps", "statefulsets.apps", "persistentvolumeclaims", "persistentvolumes", "configmaps", "secrets", app + "/web",
		"customresourcedefinitions.apiextensions.k8s.io", "widgets." + widgets.Group} {
		if err != nil || !strings.Contains(desc, want) {
			t.Errorf("backup describe --details (%v) does not list %s", err, want)
		}
	}

	// Lose everything: the namespace, the data on the volume's disk, and
	// the widgets' definition.
	deleteNamespace(t, c, app)
	deleteCRD(t, c, widgets)
	labelNode(t, c, "node-a", webNode, "")
	labelNode(t, c, "node-b", webNode, "yes")
	if err := os.RemoveAll(pvDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(pvDir, 0o755); err != nil {
		t.Fatal(err)
	}

	// A Velero Restore manifest with only its apiVersion changed: the
	// init hook runs after the data restore and fixes ownership; it
	// records what it saw and when.
	manifest := fmt.Sprintf(`apiVersion: quiesce.dev/v1alpha1
kind: Restore
metadata:
  name: back
  namespace: %s
spec:
  backupName: full
  includedNamespaces: [%s]
  restorePVs: true
  hooks:
    resources:
      - name: fix-owner
        includedNamespaces: [%s]
        labelSelector: {matchLabels: {app: web}}
        postHooks:
          - init:
              initContainers:
                - name: fix-owner
                  image: %s
                  imagePullPolicy: Never
                  command: ["/bin/sh", "-c", "md5sum /data/blob | cut -d' ' -f1 > /data/init-saw; chown -R 1234:1234 /data; read u _ < /proc/uptime; echo $u > /data/init-time"]
                  volumeMounts: [{name: data, mountPath: /data}]
              timeout: 2m
`, sys, app, app, cluster.BusyboxImage)
	mf := filepath.Join(t.TempDir(), "restore.yaml")
	if err := os.WriteFile(mf, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, nil, "quiesce", "restore", "create", "-f", mf, "--kubeconfig", c.Kubeconfig, "-n", sys, "--wait")
	t.Logf("quiesce restore create:\n%s", out)
	if err != nil {
		t.Fatalf("restore create: %v", err)
	}
	var r api.Restore
	if err := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: "back"}, &r); err != nil {
		t.Fatal(err)
	}
	if d, err := run(t, nil, "quiesce", "restore", "describe", "back", "--details", "--kubeconfig", c.Kubeconfig, "-n", sys); err == nil {
		t.Logf("restore describe:\n%s", d)
	}
	if r.Status.Phase != api.RestorePhaseCompleted {
		t.Fatalf("restore = %s (%s) errors %v: want Completed", r.Status.Phase, r.Status.FailureReason, r.Status.Errors)
	}
	if r.Status.HooksAttempted == 0 || r.Status.HooksFailed != 0 {
		t.Errorf("restore hooks attempted %d failed %d: want the post-restore hook run and none failed", r.Status.HooksAttempted, r.Status.HooksFailed)
	}

	webPod := waitLabelledPod(t, c, app, "app=web")
	db = waitLabelledPod(t, c, app, "app=db")
	if webPod != web {
		t.Errorf("restored web pod is %s, want the backed-up %s adopted", webPod, web)
	}
	after := map[string]string{
		"web": checksum(t, c, app, web, "/data/blob"),
		"db":  checksum(t, c, app, db, "/data/blob"),
	}
	for k := range before {
		if before[k] != after[k] {
			t.Errorf("%s: /data/blob checksum %s after restore, %s before", k, after[k], before[k])
		}
	}
	pod, err := c.Client.CoreV1().Pods(app).Get(ctx, web, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.NodeName != "node-b" {
		t.Errorf("restored web pod runs on %s, want node-b (backed up on node-a)", pod.Spec.NodeName)
	}
	if len(pod.Spec.InitContainers) < 2 || pod.Spec.InitContainers[0].Name != api.RestoreWaitContainer || pod.Spec.InitContainers[1].Name != "fix-owner" {
		t.Errorf("restored web pod init containers = %v: want the wait container, then the init hook", containerNames(pod.Spec.InitContainers))
	}
	read := func(pod, file string) string {
		res, err := c.Exec(ctx, app, pod, "app", nil, "cat", file)
		if err != nil {
			t.Errorf("pod %s: cat %s: %v (%s)", pod, file, err, res.Stderr)
		}
		return strings.TrimSpace(res.Stdout)
	}
	if saw := read(web, "/data/init-saw"); saw != before["web"] {
		t.Errorf("init hook saw /data/blob with checksum %q, want the backed-up %q: it ran before the data restore", saw, before["web"])
	}
	if owner, _ := c.Exec(ctx, app, web, "app", nil, "stat", "-c", "%u", "/data/blob"); strings.TrimSpace(owner.Stdout) != "1234" {
		t.Errorf("owner of /data/blob = %q, want 1234 (set by the init hook)", owner.Stdout)
	}
	initTime, appTime, hookTime := uptime(t, read(web, "/data/init-time")), uptime(t, read(web, "/data/app-started")), uptime(t, read(web, "/data/migrated"))
	if initTime >= appTime || appTime > hookTime {
		t.Errorf("init hook at %.2f, app start at %.2f, post-restore hook at %.2f: want init < app <= post-restore hook", initTime, appTime, hookTime)
	}

	cm, err := c.Client.CoreV1().ConfigMaps(app).Get(ctx, "settings", metav1.GetOptions{})
	if err != nil || cm.Data["mode"] != "production" || cm.Labels[api.LabelRestore] != "back" {
		t.Errorf("configmap settings = %+v (%v): want restored with its data and the restore label", cm, err)
	}
	sec, err := c.Client.CoreV1().Secrets(app).Get(ctx, "creds", metav1.GetOptions{})
	if err != nil || string(sec.Data["password"]) != "s3cret" {
		t.Errorf("secret creds not restored with its data (%v)", err)
	}
	got, err := dyn.Resource(widgets).Namespace(app).Get(ctx, "gear", metav1.GetOptions{})
	if teeth, _, _ := unstructured.NestedInt64(got.Object, "spec", "teeth"); err != nil || teeth != 42 {
		t.Errorf("widget gear after restore: %v, spec.teeth %d (want 42)", err, teeth)
	}
	// Controllers adopted the restored pods instead of making new ones.
	assertAdopted(t, c, app, "app=web", "ReplicaSet")
	assertAdopted(t, c, app, "app=db", "StatefulSet")
}

// TestRestoreMappingAndHookFailures restores a running namespace into
// another one while the original runs, with a post-restore hook that fails
// with onError Continue and one whose container never becomes ready, and a
// pod whose pre-hook failed in the backup: the Restore ends PartiallyFailed
// with the three reasons, on the waitTimeout.
func TestRestoreMappingAndHookFailures(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	src := c.Namespace(t, "qsrc")
	dst := "qdst-" + strings.TrimPrefix(src, "qsrc-")
	repoDir := "/var/lib/quiesce-e2e-repos/" + sys
	installChart(t, c, sys, repoDir)
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), dst, metav1.DeleteOptions{})
	})

	web := webDeployment("web", "node-b")
	web.Spec.Template.Annotations["post.hook.restore.velero.io/command"] = `["/bin/sh","-c","echo bad migration; exit 3"]`
	web.Spec.Template.Annotations["post.hook.restore.velero.io/on-error"] = "Continue"
	never := hookPod("never-ready", "node-a", map[string]string{"backup.velero.io/backup-volumes": "data"})
	never.Labels = map[string]string{"app": "never-ready"}
	never.Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}},
		PeriodSeconds: 1,
	}
	// Its pre-hook fails: the backup holds no data of its volume.
	preFailed := hookPod("pre-failed", "node-a", map[string]string{"backup.velero.io/backup-volumes": "data",
		"pre.hook.backup.velero.io/command": `["/bin/false"]`})
	kc := apiClient(t, c)
	web.Namespace, never.Namespace, preFailed.Namespace = src, src, src
	settings := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: src, Name: "settings"}, Data: map[string]string{"mode": "production"}}
	if err := kc.Create(ctx, settings); err != nil {
		t.Fatal(err)
	}
	// The target namespace exists already, with its own settings.
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: dst}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().ConfigMaps(dst).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"},
		Data: map[string]string{"mode": "staging"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kc.Create(ctx, web); err != nil {
		t.Fatal(err)
	}
	if err := kc.Create(ctx, never); err != nil {
		t.Fatal(err)
	}
	if err := kc.Create(ctx, preFailed); err != nil {
		t.Fatal(err)
	}
	webPod := waitLabelledPod(t, c, src, "app=web")
	if _, err := c.WaitPod(ctx, src, "never-ready", 2*time.Minute, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }); err != nil {
		t.Fatal(err)
	}
	sum := checksum(t, c, src, webPod, "/data/blob")

	if out, err := run(t, nil, "quiesce", "backup", "create", "src", "--kubeconfig", c.Kubeconfig, "-n", sys,
		"--include-namespaces", src, "--wait"); err != nil {
		t.Fatalf("backup create: %v\n%s", err, out)
	}

	// A Velero Restore manifest as it is (apiVersion velero.io/v1).
	manifest := fmt.Sprintf(`apiVersion: velero.io/v1
kind: Restore
metadata:
  name: mapped
  namespace: velero
spec:
  backupName: src
  namespaceMapping: {%s: %s}
  timeout: 5m
  hooks:
    resources:
      - name: wait-ready
        labelSelector: {matchLabels: {app: never-ready}}
        postHooks:
          - exec:
              container: app
              command: [touch, /data/never]
              waitForReady: true
              waitTimeout: 15s
`, src, dst)
	// Applied as Velero users do, with the API (kubectl apply): the
	// chart's dispatcher starts its Job.
	r, err := api.DecodeRestore([]byte(manifest))
	if err != nil {
		t.Fatal(err)
	}
	r.Namespace = sys
	if err := kc.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	err = cluster.WaitFor(ctx, 4*time.Minute, "restore mapped final", func(ctx context.Context) (bool, string, error) {
		if err := kc.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			return false, err.Error(), nil
		}
		return r.Status.Phase.Final(), string(r.Status.Phase), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := run(t, nil, "quiesce", "restore", "describe", "mapped", "--kubeconfig", c.Kubeconfig, "-n", sys); err == nil {
		t.Logf("restore describe:\n%s", d)
	}
	if r.Status.Phase != api.RestorePhasePartiallyFailed {
		t.Fatalf("restore = %s (%s), errors %v: want PartiallyFailed", r.Status.Phase, r.Status.FailureReason, r.Status.Errors)
	}
	errs := strings.Join(r.Status.Errors, "\n")
	if !strings.Contains(errs, "exit code 3") || !strings.Contains(errs, "never-ready") {
		t.Errorf("restore errors do not name the failed hook (exit code 3) and the never-ready pod's hook:\n%s", errs)
	}
	// The pod whose pre-hook failed comes back with an empty volume: said,
	// not Completed in silence.
	if want := fmt.Sprintf("pod %s/pre-failed (from %s): volume data has no data in backup src (not backed up: the pod's backup failed", dst, src); !strings.Contains(errs, want) {
		t.Errorf("restore errors do not say %q:\n%s", want, errs)
	}
	pods := map[string]api.RestorePodResult{}
	for _, p := range r.Status.Pods {
		pods[p.Name] = p
	}
	nr := pods["never-ready"]
	if nr.Namespace != dst || nr.Phase != api.RestorePodPartiallyFailed || len(nr.Hooks) != 1 || !nr.Hooks[0].Failed() ||
		!strings.Contains(nr.Hooks[0].Error, "15s") {
		t.Errorf("never-ready pod = %+v: want restored into %s, its hook failed at the 15s waitTimeout", nr, dst)
	}
	if r.Status.HooksFailed != 2 {
		t.Errorf("hooks failed = %d, want 2", r.Status.HooksFailed)
	}
	logs, err := run(t, []string{"QUIESCE_REPO_PASSWORD=e2e-password"}, "quiesce", "restore", "logs", "mapped",
		"--kubeconfig", c.Kubeconfig, "-n", sys, "--repo", repoDir, "--cache-dir", t.TempDir())
	if err != nil || !strings.Contains(logs, "bad migration") || !strings.Contains(logs, "not ready after 15s") {
		t.Errorf("restore logs (%v) lack the failed hook's output or the wait timeout:\n%s", err, logs)
	}
	metricsOut, err := c.Client.CoreV1().Services(sys).ProxyGet("http", sys+"-exporter-metrics", "9465", "/metrics", nil).DoRaw(ctx)
	if err != nil || !strings.Contains(string(metricsOut), `quiesce_restores{phase="PartiallyFailed"} 1`) {
		t.Errorf("exporter metrics (%v) lack quiesce_restores{phase=\"PartiallyFailed\"} 1", err)
	}

	// The copy holds the data; the original still runs, untouched.
	if got := checksum(t, c, dst, waitLabelledPod(t, c, dst, "app=web"), "/data/blob"); got != sum {
		t.Errorf("mapped web /data/blob checksum %s, want %s", got, sum)
	}
	orig, err := c.Client.CoreV1().Pods(src).Get(ctx, webPod, metav1.GetOptions{})
	if err != nil || orig.DeletionTimestamp != nil || !cluster.PodReady(orig) {
		t.Errorf("original pod %s/%s after the mapped restore: %v", src, webPod, err)
	}
	// An object that already existed is left alone, and reported.
	if cm, err := c.Client.CoreV1().ConfigMaps(dst).Get(ctx, "settings", metav1.GetOptions{}); err != nil || cm.Data["mode"] != "staging" {
		t.Errorf("configmap %s/settings = %+v (%v): the existing object was changed", dst, cm, err)
	}
	var reported bool
	for _, it := range r.Status.Items {
		reported = reported || (it.Resource == "configmaps" && it.Namespace == dst && it.Name == "settings" && it.Outcome == api.ItemExisted)
	}
	if !reported {
		t.Errorf("restore items %+v do not report %s/settings as existing", r.Status.Items, dst)
	}
}

// widgetCRD defines a namespaced Widget kind in a group of the test's own
// and deletes the definition when the test ends.
func widgetCRD(t *testing.T, c *cluster.Cluster, ns string) schema.GroupVersionResource {
	t.Helper()
	gvr := schema.GroupVersionResource{Group: ns + ".e2e.quiesce.dev", Version: "v1", Resource: "widgets"}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": gvr.Resource + "." + gvr.Group},
		"spec": map[string]any{
			"group": gvr.Group, "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object",
					"x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	dyn := dynamic.NewForConfigOrDie(c.Config)
	crds := dyn.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	if _, err := crds.Create(t.Context(), crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CRD: %v", err)
	}
	t.Cleanup(func() { _ = crds.Delete(context.WithoutCancel(t.Context()), crd.GetName(), metav1.DeleteOptions{}) })
	err := cluster.WaitFor(t.Context(), time.Minute, "widgets served", func(ctx context.Context) (bool, string, error) {
		_, err := dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		return err == nil, fmt.Sprint(err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return gvr
}

func deleteCRD(t *testing.T, c *cluster.Cluster, gvr schema.GroupVersionResource) {
	t.Helper()
	crds := dynamic.NewForConfigOrDie(c.Config).Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	name := gvr.Resource + "." + gvr.Group
	if err := crds.Delete(t.Context(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := cluster.WaitFor(t.Context(), 2*time.Minute, "CRD "+name+" gone", func(ctx context.Context) (bool, string, error) {
		_, err := crds.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// labelNode sets (or, with value "", removes) a label on node, and removes
// it when the test ends.
func labelNode(t *testing.T, c *cluster.Cluster, node, key, value string) {
	t.Helper()
	patch := func(ctx context.Context, v any) error {
		b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{key: v}}})
		_, err := c.Client.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, b, metav1.PatchOptions{})
		return err
	}
	var v any = value
	if value == "" {
		v = nil
	}
	if err := patch(t.Context(), v); err != nil {
		t.Fatalf("label node %s %s=%q: %v", node, key, value, err)
	}
	t.Cleanup(func() { _ = patch(context.WithoutCancel(t.Context()), nil) })
}

// localPV creates a local PersistentVolume on node for the StatefulSet db's
// claim in ns (storage class "qe2e-<ns>", no provisioner: bound
// statically), and returns its directory on the host.
func localPV(t *testing.T, c *cluster.Cluster, ns, node string) string {
	t.Helper()
	return hostPV(t, c, ns+"-db", "qe2e-"+ns, node, "64Mi")
}

// hostPV is a local PersistentVolume name of class on node, on a host
// directory anyone may write (the database images run as their own user),
// removed with the test; it returns the directory.
func hostPV(t *testing.T, c *cluster.Cluster, name, class, node, size string) string {
	t.Helper()
	dir := "/var/lib/quiesce-e2e-pv/" + name
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}}},
		},
	}
	ctx := t.Context()
	if _, err := c.Client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create PV %s: %v", pv.Name, err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().PersistentVolumes().Delete(context.WithoutCancel(ctx), pv.Name, metav1.DeleteOptions{})
		_ = os.RemoveAll(dir)
	})
	return dir
}

// appContainer writes 2 MB of random data to /data/blob on its first start
// only, and the host uptime of every start to /data/app-started.
func appContainer() corev1.Container {
	return corev1.Container{
		Name: "app", Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
		Command: []string{"sh", "-c", `[ -f /data/blob ] || head -c 2000000 /dev/urandom > /data/blob
read u _ < /proc/uptime; echo $u > /data/app-started
touch /tmp/ready
exec sleep 2147483647`},
		// Ready once the blob exists and the start is stamped: a test that
		// reads /data/blob of a ready pod must not race the shell writing it.
		// /tmp is the container's own, so a restored /data cannot make a new
		// container ready before its start is stamped.
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}}},
			PeriodSeconds: 1,
		},
		Env: []corev1.EnvVar{{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "mode", Optional: ptr(true)}}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
	}
}

// webDeployment has one replica on node with an emptyDir, backed up by
// annotation, and a post-restore hook (Velero's annotation) that records
// when it ran.
func webDeployment(name, node string) *appsv1.Deployment {
	grace := int64(1)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
					"backup.velero.io/backup-volumes":     "data",
					"post.hook.restore.velero.io/command": `["/bin/sh","-c","read u _ < /proc/uptime; echo $u > /data/migrated"]`,
				}},
				Spec: corev1.PodSpec{
					NodeSelector:                  map[string]string{"kubernetes.io/hostname": node},
					TerminationGracePeriodSeconds: &grace,
					Containers:                    []corev1.Container{appContainer()},
					Volumes:                       []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
}

// dbStatefulSet has one replica whose claim binds the local PV localPV made.
func dbStatefulSet(ns string) *appsv1.StatefulSet {
	grace := int64(1)
	labels := map[string]string{"app": "db"}
	class := "qe2e-" + ns
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr(int32(1)),
			ServiceName: "db",
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"backup.velero.io/backup-volumes": "data"}},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers:                    []corev1.Container{appContainer()},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: &class,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
				},
			}},
		},
	}
}

// waitLabelledPod waits until exactly one pod with the selector is Ready
// and returns its name.
func waitLabelledPod(t *testing.T, c *cluster.Cluster, ns, selector string) string {
	t.Helper()
	var name string
	err := cluster.WaitFor(t.Context(), 3*time.Minute, "one ready pod "+selector+" in "+ns, func(ctx context.Context) (bool, string, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error(), nil
		}
		var states []string
		for i := range pods.Items {
			p := &pods.Items[i]
			states = append(states, p.Name+":"+string(p.Status.Phase))
			if len(pods.Items) == 1 && p.DeletionTimestamp == nil && cluster.PodReady(p) {
				name = p.Name
				return true, "", nil
			}
		}
		return false, strings.Join(states, ","), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func checksum(t *testing.T, c *cluster.Cluster, ns, pod, file string) string {
	t.Helper()
	res, err := c.Exec(t.Context(), ns, pod, "app", nil, "md5sum", file)
	f := strings.Fields(res.Stdout)
	if err != nil || len(f) == 0 {
		t.Fatalf("md5sum %s in %s/%s: %v (%s)", file, ns, pod, err, res.Stderr)
	}
	return f[0]
}

func uptime(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Errorf("uptime stamp %q: %v", s, err)
	}
	return v
}

func deleteNamespace(t *testing.T, c *cluster.Cluster, ns string) {
	t.Helper()
	ctx := t.Context()
	if err := c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err := cluster.WaitFor(ctx, 3*time.Minute, "namespace "+ns+" gone", func(ctx context.Context) (bool, string, error) {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// assertAdopted checks that the pods with selector have a controller of
// kind: the controller adopted the restored pod.
func assertAdopted(t *testing.T, c *cluster.Cluster, ns, selector, kind string) {
	t.Helper()
	err := cluster.WaitFor(t.Context(), time.Minute, kind+" adopts "+selector, func(ctx context.Context) (bool, string, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil || len(pods.Items) != 1 {
			return false, fmt.Sprintf("%v, %d pods", err, len(pods.Items)), nil
		}
		ref := metav1.GetControllerOf(&pods.Items[0])
		return ref != nil && ref.Kind == kind && pods.Items[0].Labels[api.LabelRestore] != "", fmt.Sprint(ref), nil
	})
	if err != nil {
		t.Error(err)
	}
}

func containerNames(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i := range cs {
		out[i] = cs[i].Name
	}
	return out
}

func ptr[T any](v T) *T { return &v }
