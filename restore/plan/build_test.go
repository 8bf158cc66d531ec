package plan

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/resources"
)

func metaName(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }

func mustBuild(t *testing.T, doc *resources.Document, spec *api.RestoreSpec) *Plan {
	t.Helper()
	p, err := Build(doc, spec, testOptions())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return p
}

// stepKeys lists the steps as "<group-resource> <ns>/<name>" in order.
func stepKeys(p *Plan) []string {
	out := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		out[i] = key(s.Item)
	}
	return out
}

func skippedKeys(p *Plan) []string {
	out := make([]string, len(p.Skipped))
	for i, s := range p.Skipped {
		out[i] = s.Resource + " " + strings.TrimPrefix(s.Namespace+"/"+s.Name, "/")
	}
	return out
}

func step(t *testing.T, p *Plan, gr, ns, name string) Step {
	t.Helper()
	for _, s := range p.Steps {
		if s.Item.GroupResource() == gr && s.Item.Object.GetNamespace() == ns && s.Item.Object.GetName() == name {
			return s
		}
	}
	t.Fatalf("no step for %s %s/%s in %v", gr, ns, name, stepKeys(p))
	return Step{}
}

func hasStep(p *Plan, gr, ns, name string) bool {
	for _, s := range p.Steps {
		if s.Item.GroupResource() == gr && s.Item.Object.GetNamespace() == ns && s.Item.Object.GetName() == name {
			return true
		}
	}
	return false
}

func podOf(t *testing.T, s Step) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(s.Item.Object.Object, &pod, true); err != nil {
		t.Fatalf("restored pod does not decode strictly: %v", err)
	}
	return pod
}

func work(t *testing.T, p *Plan, ns, name string) PodWork {
	t.Helper()
	for _, w := range p.Pods {
		if w.Namespace == ns && w.Name == name {
			return w
		}
	}
	t.Fatalf("no pod work for %s/%s in %+v", ns, name, p.Pods)
	return PodWork{}
}

func containerNames(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

func volumeNames(vs []corev1.Volume) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Name
	}
	return out
}

func mountNames(ms []corev1.VolumeMount) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

func nested(t *testing.T, obj map[string]any, fields ...string) any {
	t.Helper()
	v, _, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func warningWith(p *Plan, parts ...string) bool {
	for _, w := range p.Warnings {
		ok := true
		for _, s := range parts {
			ok = ok && strings.Contains(w, s)
		}
		if ok {
			return true
		}
	}
	return false
}

func TestBuildOrderAndSelection(t *testing.T) {
	p := mustBuild(t, shopDoc(t), &api.RestoreSpec{BackupName: "nightly-1"})
	want := []string{
		"customresourcedefinitions.apiextensions.k8s.io widgets.example.com",
		"namespaces other",
		"namespaces shop",
		"storageclasses.storage.k8s.io fast",
		"persistentvolumes pvc-db0",
		"persistentvolumes pvc-web",
		"persistentvolumeclaims shop/data-db-0",
		"persistentvolumeclaims shop/web-data",
		"serviceaccounts shop/web",
		"secrets shop/web-secret",
		"configmaps other/other-config",
		"configmaps shop/web-config",
		"roles.rbac.authorization.k8s.io shop/web-reader",
		"clusterroles.rbac.authorization.k8s.io widget-viewer",
		"rolebindings.rbac.authorization.k8s.io shop/web-reader",
		"clusterrolebindings.rbac.authorization.k8s.io widget-viewer",
		"services shop/db",
		"services shop/web",
		"pods shop/db-0",
		"pods shop/web-5d8f7c9b-x2k4p",
		"replicasets.apps shop/web-5d8f7c9b",
		"deployments.apps shop/web",
		"jobs.batch shop/migrate",
		"statefulsets.apps shop/db",
		"widgets.example.com shop/blue",
	}
	if got := stepKeys(p); !slices.Equal(got, want) {
		t.Errorf("steps:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	wantSkipped := map[string]string{
		"backups.quiesce.dev shop/nightly-1":                 "backup tool objects",
		"endpoints shop/web":                                 "never restored",
		"endpointslices.discovery.k8s.io shop/web-abc12":     "never restored",
		"events shop/web-5d8f7c9b-x2k4p.17a3c":               "never restored",
		"events.events.k8s.io shop/web-5d8f7c9b-x2k4p.17a3d": "never restored",
		"leases.coordination.k8s.io shop/web-leader":         "never restored",
		"nodes node-1":                     "never restored",
		"persistentvolumes pv-free":        "claimed by no PVC",
		"persistentvolumes pvc-elsewhere":  "claim billing/ledger is not restored",
		"pods other/kube-apiserver-node-1": "mirror pod",
		"pods shop/web-5d8f7c9b-done1":     "phase is Succeeded",
		"pods shop/migrate-7xk2p":          "pod of Job migrate",
		"restores.velero.io shop/old":      "backup tool objects (velero.io)",
		"secrets shop/web-token-q8n2d":     "service-account token",
		"validatingwebhookconfigurations.admissionregistration.k8s.io widget-check": "cluster-scoped",
	}
	got := skippedKeys(p)
	if !sort.StringsAreSorted(got) {
		t.Errorf("skipped not sorted: %v", got)
	}
	if len(got) != len(wantSkipped) {
		t.Errorf("skipped %d objects, want %d: %v", len(got), len(wantSkipped), got)
	}
	for i, k := range got {
		why, ok := wantSkipped[k]
		if !ok {
			t.Errorf("skipped %s (%s): not expected", k, p.Skipped[i].Message)
			continue
		}
		if !strings.Contains(p.Skipped[i].Message, why) || p.Skipped[i].Outcome != api.ItemSkipped {
			t.Errorf("skipped %s: %s %q, want %s and a message with %q", k, p.Skipped[i].Outcome, p.Skipped[i].Message, api.ItemSkipped, why)
		}
	}
	for _, s := range p.Steps {
		if want := s.Item.GroupResource() == "customresourcedefinitions.apiextensions.k8s.io"; s.WaitEstablished != want {
			t.Errorf("%s: WaitEstablished %v, want %v", key(s.Item), s.WaitEstablished, want)
		}
		if s.SourceNamespace != s.Item.Object.GetNamespace() {
			t.Errorf("%s: SourceNamespace %q without a mapping", key(s.Item), s.SourceNamespace)
		}
	}
	if len(p.Warnings) != 1 || !warningWith(p, "pod shop/web-5d8f7c9b-x2k4p", "volume scratch", "k3gone", "no such volume") {
		t.Errorf("warnings: %q", p.Warnings)
	}
	// A volume the backup holds no data of is an error (the restore ends
	// PartiallyFailed), naming the pod, the volume, the backup and the fix.
	if len(p.Errors) != 1 || !strings.Contains(p.Errors[0], "pod shop/db-0: volume tmp has no data in backup nightly-1 (") ||
		!strings.Contains(p.Errors[0], "permission denied") || !strings.Contains(p.Errors[0], "restore a backup in which the pod completed") {
		t.Errorf("errors: %q", p.Errors)
	}
}

func TestBuildTransformsMetadata(t *testing.T) {
	p := mustBuild(t, shopDoc(t), &api.RestoreSpec{BackupName: "nightly-1"})
	for _, s := range p.Steps {
		obj := s.Item.Object
		md := obj.Object["metadata"].(map[string]any)
		for k := range md {
			if !slices.Contains([]string{"name", "generateName", "namespace", "labels", "annotations"}, k) {
				t.Errorf("%s: metadata.%s kept", key(s.Item), k)
			}
		}
		if got := obj.GetLabels()[api.LabelRestore]; got != "r1" {
			t.Errorf("%s: label %s=%q, want r1", key(s.Item), api.LabelRestore, got)
		}
		if _, ok := obj.Object["status"]; ok {
			t.Errorf("%s: status kept", key(s.Item))
		}
		if s.Item.Namespaced != (obj.GetNamespace() != "") {
			t.Errorf("%s: namespaced %v but namespace %q", key(s.Item), s.Item.Namespaced, obj.GetNamespace())
		}
	}
	dep := step(t, p, "deployments.apps", "shop", "web").Item.Object
	if got := dep.GetAnnotations()["deployment.kubernetes.io/revision"]; got != "2" {
		t.Errorf("deployment annotations not kept: %v", dep.GetAnnotations())
	}
	if got := dep.GetLabels()["app"]; got != "web" {
		t.Errorf("deployment labels not kept: %v", dep.GetLabels())
	}
	if nested(t, dep.Object, "spec", "template", "spec", "containers") == nil {
		t.Error("deployment spec lost")
	}
}

func TestBuildTransformsKinds(t *testing.T) {
	p := mustBuild(t, shopDoc(t), &api.RestoreSpec{BackupName: "nightly-1"})

	svc := step(t, p, "services", "shop", "web").Item.Object.Object
	for _, f := range []string{"clusterIP", "clusterIPs", "healthCheckNodePort"} {
		if v := nested(t, svc, "spec", f); v != nil {
			t.Errorf("service web: spec.%s=%v kept", f, v)
		}
	}
	for _, port := range nested(t, svc, "spec", "ports").([]any) {
		if _, ok := port.(map[string]any)["nodePort"]; ok {
			t.Errorf("service web: nodePort kept: %v", port)
		}
	}
	if v := nested(t, svc, "spec", "externalTrafficPolicy"); v != "Local" {
		t.Errorf("service web: externalTrafficPolicy %v", v)
	}
	headless := step(t, p, "services", "shop", "db").Item.Object.Object
	if v := nested(t, headless, "spec", "clusterIP"); v != "None" {
		t.Errorf("headless service: clusterIP %v, want None", v)
	}

	pvc := step(t, p, "persistentvolumeclaims", "shop", "data-db-0").Item.Object
	if a := pvc.GetAnnotations(); !reflect.DeepEqual(a, map[string]string{"volume.kubernetes.io/storage-provisioner": "rancher.io/local-path"}) {
		t.Errorf("pvc annotations: %v", a)
	}
	if v := nested(t, pvc.Object, "spec", "volumeName"); v != "pvc-db0" {
		t.Errorf("pvc volumeName %v, want kept", v)
	}

	pv := step(t, p, "persistentvolumes", "", "pvc-db0").Item.Object
	if ref := nested(t, pv.Object, "spec", "claimRef"); !reflect.DeepEqual(ref, map[string]any{"namespace": "shop", "name": "data-db-0"}) {
		t.Errorf("pv claimRef %v", ref)
	}
	if a := pv.GetAnnotations(); !reflect.DeepEqual(a, map[string]string{"pv.kubernetes.io/provisioned-by": "rancher.io/local-path"}) {
		t.Errorf("pv annotations %v", a)
	}
	if v := nested(t, pv.Object, "spec", "persistentVolumeReclaimPolicy"); v != "Retain" {
		t.Errorf("pv spec changed: %v", v)
	}

	job := step(t, p, "jobs.batch", "shop", "migrate").Item.Object.Object
	if v := nested(t, job, "spec", "selector"); v != nil {
		t.Errorf("job selector kept: %v", v)
	}
	wantLabels := map[string]any{"app": "web", "job-name": "migrate", "batch.kubernetes.io/job-name": "migrate"}
	if l := nested(t, job, "spec", "template", "metadata", "labels"); !reflect.DeepEqual(l, wantLabels) {
		t.Errorf("job template labels %v, want %v", l, wantLabels)
	}

	sa := step(t, p, "serviceaccounts", "shop", "web").Item.Object.Object
	if s := sa["secrets"]; !reflect.DeepEqual(s, []any{map[string]any{"name": "registry-creds"}}) {
		t.Errorf("service account secrets %v", s)
	}

	ns := step(t, p, "namespaces", "", "shop").Item.Object
	if ns.GetLabels()["team"] != "a" {
		t.Errorf("namespace labels %v", ns.GetLabels())
	}
}

func TestBuildPodTransform(t *testing.T) {
	p := mustBuild(t, shopDoc(t), &api.RestoreSpec{BackupName: "nightly-1"})
	pod := podOf(t, step(t, p, "pods", "shop", "web-5d8f7c9b-x2k4p"))
	if pod.Spec.NodeName != "" || pod.Spec.Priority != nil {
		t.Errorf("nodeName %q priority %v kept", pod.Spec.NodeName, pod.Spec.Priority)
	}
	if len(pod.OwnerReferences)+len(pod.Finalizers) != 0 || pod.UID != "" || pod.ResourceVersion != "" {
		t.Errorf("metadata kept: %+v", pod.ObjectMeta)
	}
	if got, want := containerNames(pod.Spec.InitContainers), []string{api.RestoreWaitContainer, "fix-perms", "setup"}; !slices.Equal(got, want) {
		t.Errorf("init containers %v, want %v", got, want)
	}
	if got, want := volumeNames(pod.Spec.Volumes), []string{"data", "cache", api.RestoreSignalVolume}; !slices.Equal(got, want) {
		t.Errorf("volumes %v, want %v", got, want)
	}
	if sig := pod.Spec.Volumes[2]; sig.EmptyDir == nil {
		t.Errorf("signal volume is not an emptyDir: %+v", sig)
	}
	if got := mountNames(pod.Spec.Containers[0].VolumeMounts); !slices.Equal(got, []string{"data", "cache"}) {
		t.Errorf("app mounts %v", got)
	}
	for _, c := range append(pod.Spec.Containers[1:], pod.Spec.InitContainers[2]) {
		if len(c.VolumeMounts) != 0 {
			t.Errorf("%s: mounts %v, want the token mount gone", c.Name, mountNames(c.VolumeMounts))
		}
	}

	wait := pod.Spec.InitContainers[0]
	wantArgs := []string{"restore-wait", "--signal-file=/quiesce-restore/done.json", "--restore=r1", "--timeout=1h0m0s"}
	if wait.Image != "ghcr.io/quiesce-dev/quiesce:v0.3.0" || wait.ImagePullPolicy != corev1.PullIfNotPresent ||
		!slices.Equal(wait.Args, wantArgs) || len(wait.Command) != 0 {
		t.Errorf("wait container: image %s policy %s command %v args %v", wait.Image, wait.ImagePullPolicy, wait.Command, wait.Args)
	}
	if want := []corev1.VolumeMount{{Name: api.RestoreSignalVolume, MountPath: "/quiesce-restore", ReadOnly: true}}; !reflect.DeepEqual(wait.VolumeMounts, want) {
		t.Errorf("wait mounts %+v", wait.VolumeMounts)
	}
	if r := wait.Resources.Requests; r.Cpu().IsZero() || r.Memory().IsZero() {
		t.Errorf("wait container has no requests: %v", r)
	}
	if sc := wait.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("wait container security context %+v", sc)
	}
	fix := pod.Spec.InitContainers[1]
	if fix.Image != "busybox:1.37" || !slices.Equal(fix.Command, []string{"/bin/sh", "-c", "chown -R 101:101 /data"}) {
		t.Errorf("init hook container %+v", fix)
	}

	db := podOf(t, step(t, p, "pods", "shop", "db-0"))
	if got := containerNames(db.Spec.InitContainers); !slices.Equal(got, []string{api.RestoreWaitContainer}) {
		t.Errorf("db-0 init containers %v", got)
	}
	if db.Spec.Hostname != "db-0" || db.Spec.Subdomain != "db" || db.Spec.NodeName != "" {
		t.Errorf("db-0 spec: hostname %q subdomain %q nodeName %q", db.Spec.Hostname, db.Spec.Subdomain, db.Spec.NodeName)
	}
}

func TestBuildPodWork(t *testing.T) {
	p := mustBuild(t, shopDoc(t), &api.RestoreSpec{BackupName: "nightly-1"})
	if len(p.Pods) != 2 || p.Pods[0].Name != "db-0" {
		t.Fatalf("pods %+v, want db-0 and the web pod in order", p.Pods)
	}
	db := work(t, p, "shop", "db-0")
	if want := []api.RestoreVolume{{Name: "data", SnapshotID: "k4db", Source: "shop/pvc/data-db-0/data"}}; !reflect.DeepEqual(db.Volumes, want) {
		t.Errorf("db-0 volumes %+v, want %+v", db.Volumes, want)
	}
	if len(db.Hooks) != 1 {
		t.Fatalf("db-0 hooks %+v", db.Hooks)
	}
	h := db.Hooks[0]
	if h.Container != "postgres" || !slices.Equal(h.Command, []string{"psql", "-c", "select 1"}) ||
		h.WaitTimeout.Duration != 2*time.Minute || h.Timeout.Duration != 30*time.Second ||
		h.OnError != api.HookErrorModeContinue || h.WaitForReady || !strings.Contains(h.Source, "post.hook.restore.velero.io/command") {
		t.Errorf("db-0 hook %+v", h)
	}

	web := work(t, p, "shop", "web-5d8f7c9b-x2k4p")
	wantVols := []api.RestoreVolume{
		{Name: "data", SnapshotID: "k1web", Source: "shop/pvc/web-data/data"},
		{Name: "cache", SnapshotID: "k2cache", Source: "shop/deployment/web/cache"},
	}
	if !reflect.DeepEqual(web.Volumes, wantVols) || web.SourceNamespace != "shop" {
		t.Errorf("web volumes %+v (source ns %q), want %+v", web.Volumes, web.SourceNamespace, wantVols)
	}
	if len(web.Hooks) != 1 || web.Hooks[0].Container != "app" || !web.Hooks[0].WaitForReady ||
		web.Hooks[0].WaitTimeout.Duration != time.Hour {
		t.Errorf("web hooks %+v: want app, waitForReady, wait bounded by the restore timeout", web.Hooks)
	}
}

func TestBuildNamespaceMapping(t *testing.T) {
	spec := &api.RestoreSpec{BackupName: "nightly-1", NamespaceMapping: map[string]string{"shop": "shop-copy"},
		Hooks: api.RestoreHooks{Resources: []api.RestoreResourceHookSpec{{
			Name: "copy-only", IncludedNamespaces: []string{"shop-copy"}, // hooks select the target namespace
			PostHooks: []api.RestoreResourceHook{{Init: &api.InitRestoreHook{InitContainers: []corev1.Container{
				{Name: "announce", Image: "busybox:1.37", Command: []string{"echo", "restored copy"}}}}}},
		}}}}
	p := mustBuild(t, shopDoc(t), spec)
	for _, s := range p.Steps {
		ns := s.Item.Object.GetNamespace()
		switch {
		case !s.Item.Namespaced:
			if ns != "" {
				t.Errorf("%s: cluster-scoped with namespace %q", key(s.Item), ns)
			}
		case s.SourceNamespace == "shop" && ns != "shop-copy", s.SourceNamespace == "other" && ns != "other":
			t.Errorf("%s: from %s into %s", key(s.Item), s.SourceNamespace, ns)
		}
	}
	if hasStep(p, "namespaces", "", "shop") || !hasStep(p, "namespaces", "", "shop-copy") || !hasStep(p, "namespaces", "", "other") {
		t.Errorf("namespaces: %v", stepKeys(p))
	}
	pv := step(t, p, "persistentvolumes", "", "pvc-db0").Item.Object.Object
	if ns := nested(t, pv, "spec", "claimRef", "namespace"); ns != "shop-copy" {
		t.Errorf("pv claimRef namespace %v", ns)
	}
	rb := step(t, p, "rolebindings.rbac.authorization.k8s.io", "shop-copy", "web-reader").Item.Object.Object
	wantSubjects := []any{
		map[string]any{"kind": "ServiceAccount", "name": "web", "namespace": "shop-copy"},
		map[string]any{"kind": "ServiceAccount", "name": "monitor", "namespace": "monitoring"},
		map[string]any{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
	}
	if s := rb["subjects"]; !reflect.DeepEqual(s, wantSubjects) {
		t.Errorf("rolebinding subjects %v", s)
	}
	crb := step(t, p, "clusterrolebindings.rbac.authorization.k8s.io", "", "widget-viewer").Item.Object.Object
	if ns := nested(t, crb, "subjects").([]any)[0].(map[string]any)["namespace"]; ns != "shop-copy" {
		t.Errorf("clusterrolebinding subject namespace %v", ns)
	}
	w := work(t, p, "shop-copy", "db-0")
	if w.SourceNamespace != "shop" || w.Volumes[0].Source != "shop/pvc/data-db-0/data" {
		t.Errorf("db-0 work %+v: want source namespace shop and the snapshot's source identity", w)
	}
	pod := podOf(t, step(t, p, "pods", "shop-copy", "db-0"))
	if got := containerNames(pod.Spec.InitContainers); !slices.Equal(got, []string{api.RestoreWaitContainer, "announce"}) {
		t.Errorf("db-0 init containers %v: the spec hook selects the target namespace", got)
	}
	for _, s := range p.Skipped {
		if s.Namespace == "shop" {
			t.Errorf("skipped %s %s/%s: reported under the source namespace", s.Resource, s.Namespace, s.Name)
		}
	}
}

func TestBuildFilters(t *testing.T) {
	sel := func(s string) *metav1.LabelSelector {
		ls, err := metav1.ParseToLabelSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return ls
	}
	tests := []struct {
		name     string
		spec     api.RestoreSpec
		want     []string // exactly these steps, in order
		wantPods []string
	}{
		{
			name: "included namespaces and resources",
			spec: api.RestoreSpec{IncludedNamespaces: []string{"shop"}, IncludedResources: []string{"configmaps", "deployments.apps"}},
			// the namespace comes with its objects whatever the resource filter
			want: []string{"namespaces shop", "configmaps shop/web-config", "deployments.apps shop/web"},
		},
		{
			name: "excluded namespace: cluster objects without a namespace stay",
			spec: api.RestoreSpec{ExcludedNamespaces: []string{"shop"}},
			want: []string{"customresourcedefinitions.apiextensions.k8s.io widgets.example.com", "namespaces other",
				"storageclasses.storage.k8s.io fast", "configmaps other/other-config",
				"clusterroles.rbac.authorization.k8s.io widget-viewer", "clusterrolebindings.rbac.authorization.k8s.io widget-viewer"},
		},
		{
			name: "excluded wins over included, star",
			spec: api.RestoreSpec{IncludedNamespaces: []string{"*"}, ExcludedNamespaces: []string{"other", "shop"},
				IncludedResources: []string{"*"}},
			want: []string{"customresourcedefinitions.apiextensions.k8s.io widgets.example.com",
				"storageclasses.storage.k8s.io fast",
				"clusterroles.rbac.authorization.k8s.io widget-viewer", "clusterrolebindings.rbac.authorization.k8s.io widget-viewer"},
		},
		{
			name: "resource names: plural, plural.group, any case",
			spec: api.RestoreSpec{IncludedNamespaces: []string{"shop"},
				IncludedResources: []string{"Pods", "statefulsets.apps", "widgets.example.com", "customresourcedefinitions"}},
			want: []string{"customresourcedefinitions.apiextensions.k8s.io widgets.example.com", "namespaces shop",
				"pods shop/db-0", "pods shop/web-5d8f7c9b-x2k4p", "statefulsets.apps shop/db", "widgets.example.com shop/blue"},
			wantPods: []string{"shop/db-0", "shop/web-5d8f7c9b-x2k4p"},
		},
		{
			name: "a group-qualified name does not match another group",
			spec: api.RestoreSpec{IncludedNamespaces: []string{"shop"}, IncludedResources: []string{"events.events.k8s.io", "deployments.extensions"}},
			want: nil, // events are never restored; deployments are apps
		},
		{
			name: "excluded pods: no pod work; PVs follow their claims",
			spec: api.RestoreSpec{IncludedNamespaces: []string{"shop"}, IncludedResources: []string{"persistentvolumeclaims"},
				ExcludedResources: []string{"pods"}},
			want: []string{"namespaces shop", "persistentvolumes pvc-db0", "persistentvolumes pvc-web",
				"persistentvolumeclaims shop/data-db-0", "persistentvolumeclaims shop/web-data"},
		},
		{
			name: "excluded persistentvolumes",
			spec: api.RestoreSpec{IncludedNamespaces: []string{"shop"}, IncludedResources: []string{"persistentvolumeclaims"},
				ExcludedResources: []string{"persistentvolumes"}},
			want: []string{"namespaces shop", "persistentvolumeclaims shop/data-db-0", "persistentvolumeclaims shop/web-data"},
		},
		{
			name: "label selector: namespaces kept, PV of a selected claim, cluster roles by label",
			spec: api.RestoreSpec{LabelSelector: sel("app=web")},
			want: []string{
				"customresourcedefinitions.apiextensions.k8s.io widgets.example.com",
				"namespaces other", "namespaces shop",
				"storageclasses.storage.k8s.io fast",
				"persistentvolumes pvc-web",
				"persistentvolumeclaims shop/web-data",
				"serviceaccounts shop/web", "secrets shop/web-secret", "configmaps shop/web-config",
				"roles.rbac.authorization.k8s.io shop/web-reader", "clusterroles.rbac.authorization.k8s.io widget-viewer",
				"rolebindings.rbac.authorization.k8s.io shop/web-reader", "services shop/web",
				"pods shop/web-5d8f7c9b-x2k4p", "replicasets.apps shop/web-5d8f7c9b",
				"deployments.apps shop/web", "jobs.batch shop/migrate", "widgets.example.com shop/blue",
			},
			wantPods: []string{"shop/web-5d8f7c9b-x2k4p"},
		},
		{
			name: "label selector with expressions",
			spec: api.RestoreSpec{IncludedNamespaces: []string{"shop"}, IncludedResources: []string{"pods", "statefulsets.apps", "services"},
				LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"db"}},
					{Key: "apps.kubernetes.io/pod-index", Operator: metav1.LabelSelectorOpExists}}}},
			want:     []string{"namespaces shop", "pods shop/db-0"},
			wantPods: []string{"shop/db-0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.BackupName = "nightly-1"
			p := mustBuild(t, shopDoc(t), &tc.spec)
			if got := stepKeys(p); !slices.Equal(got, tc.want) {
				t.Errorf("steps:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
			var pods []string
			for _, w := range p.Pods {
				pods = append(pods, w.Namespace+"/"+w.Name)
			}
			if !slices.Equal(pods, tc.wantPods) {
				t.Errorf("pod work for %v, want %v", pods, tc.wantPods)
			}
		})
	}
}

// veleroRestore is a Velero Restore manifest as users have them, with only
// its apiVersion kept (DecodeRestore accepts velero.io/v1).
const veleroRestore = `
apiVersion: velero.io/v1
kind: Restore
metadata:
  name: shop-restore
  namespace: velero
spec:
  backupName: nightly-1
  includedNamespaces: [shop]
  excludedResources: [nodes, events, events.events.k8s.io, backups.velero.io, restores.velero.io]
  restorePVs: true
  existingResourcePolicy: none
  hooks:
    resources:
    - name: db-restore
      includedNamespaces: [shop]
      labelSelector:
        matchLabels: {app: db}
      postHooks:
      - init:
          initContainers:
          - name: restore-perms
            image: busybox:1.37
            command: [/bin/sh, -c, "chown -R 999:999 /var/lib/postgresql/data"]
            volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
          - name: restore-check
            image: busybox:1.37
            command: [/bin/sh, -c, "test -s /var/lib/postgresql/data/PG_VERSION"]
            volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
      - exec:
          container: postgres
          command: [/bin/sh, -c, "psql -c 'create table if not exists restored(x int)'"]
          waitTimeout: 5m
          execTimeout: 1m
          onError: Fail
          waitForReady: true
      - exec:
          command: [/bin/sh, -c, "echo done"]
`

func TestBuildVeleroRestoreManifest(t *testing.T) {
	r, err := api.DecodeRestore([]byte(veleroRestore))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("annotation exec hooks replace spec exec hooks, spec init hooks still apply", func(t *testing.T) {
		p := mustBuild(t, shopDoc(t), &r.Spec)
		pod := podOf(t, step(t, p, "pods", "shop", "db-0"))
		if got, want := containerNames(pod.Spec.InitContainers), []string{api.RestoreWaitContainer, "restore-perms", "restore-check"}; !slices.Equal(got, want) {
			t.Errorf("init containers %v, want %v", got, want)
		}
		if m := pod.Spec.InitContainers[1].VolumeMounts; len(m) != 1 || m[0].Name != "data" {
			t.Errorf("spec init container mounts %+v", m)
		}
		w := work(t, p, "shop", "db-0")
		if len(w.Hooks) != 1 || !strings.Contains(w.Hooks[0].Source, "annotation") {
			t.Errorf("hooks %+v, want only the annotation's", w.Hooks)
		}
		// the web pod is not selected by the entry: its own annotation hooks only
		web := podOf(t, step(t, p, "pods", "shop", "web-5d8f7c9b-x2k4p"))
		if got := containerNames(web.Spec.InitContainers); !slices.Equal(got, []string{api.RestoreWaitContainer, "fix-perms", "setup"}) {
			t.Errorf("web init containers %v", got)
		}
	})
	t.Run("spec exec hooks without annotations", func(t *testing.T) {
		doc := shopDoc(t)
		for _, it := range doc.Items {
			if it.Object.GetName() == "db-0" {
				it.Object.SetAnnotations(nil)
			}
		}
		p := mustBuild(t, doc, &r.Spec)
		w := work(t, p, "shop", "db-0")
		if len(w.Hooks) != 2 {
			t.Fatalf("hooks %+v, want the spec's two", w.Hooks)
		}
		h := w.Hooks[0]
		if h.Name != "db-restore/postHooks[1]" || h.Container != "postgres" || h.WaitTimeout.Duration != 5*time.Minute ||
			h.Timeout.Duration != time.Minute || h.OnError != api.HookErrorModeFail || !h.WaitForReady ||
			h.Source != "spec spec.hooks.resources[0].postHooks[1]" {
			t.Errorf("hook 0 %+v", h)
		}
		h = w.Hooks[1]
		if h.Container != "postgres" || h.OnError != api.HookErrorModeContinue || h.WaitTimeout.Duration != time.Hour ||
			h.Timeout.Duration != 30*time.Second || h.WaitForReady {
			t.Errorf("hook 1 %+v: want Velero's defaults and the restore timeout as wait", h)
		}
	})
}

func TestBuildHookProblemsAreWarnings(t *testing.T) {
	doc := shopDoc(t)
	for _, it := range doc.Items {
		if it.Object.GetName() == "web-5d8f7c9b-x2k4p" {
			a := it.Object.GetAnnotations()
			a["post.hook.restore.velero.io/exec-timeout"] = "300"
			it.Object.SetAnnotations(a)
		}
		if it.Object.GetName() == "db-0" {
			a := it.Object.GetAnnotations()
			a["post.hook.restore.velero.io/container"] = "mysql"
			a["init.hook.restore.velero.io/container-image"] = "busybox:1.37"
			a["init.hook.restore.velero.io/timeout"] = "2m"
			it.Object.SetAnnotations(a)
		}
	}
	p := mustBuild(t, doc, &api.RestoreSpec{BackupName: "nightly-1"})
	if !warningWith(p, `pod shop/web-5d8f7c9b-x2k4p: annotation "post.hook.restore.velero.io/exec-timeout"="300"`, "restored without that hook") {
		t.Errorf("no warning for the bad exec-timeout: %q", p.Warnings)
	}
	if !warningWith(p, `pod shop/db-0: annotation "post.hook.restore.velero.io/container"="mysql"`, "use one of: postgres") {
		t.Errorf("no warning for the unknown container: %q", p.Warnings)
	}
	if !warningWith(p, "pod shop/db-0", "quiesce-restore-init", "timeout 2m0s is not enforced") {
		t.Errorf("no warning for the init timeout: %q", p.Warnings)
	}
	web := work(t, p, "shop", "web-5d8f7c9b-x2k4p")
	if len(web.Hooks) != 0 || len(web.Volumes) != 2 {
		t.Errorf("web work %+v: want its volumes and no hook", web)
	}
	pod := podOf(t, step(t, p, "pods", "shop", "web-5d8f7c9b-x2k4p"))
	if got := containerNames(pod.Spec.InitContainers); !slices.Equal(got, []string{api.RestoreWaitContainer, "fix-perms", "setup"}) {
		t.Errorf("the valid init hook is kept: %v", got)
	}
	db := podOf(t, step(t, p, "pods", "shop", "db-0"))
	if got := containerNames(db.Spec.InitContainers); !slices.Equal(got, []string{api.RestoreWaitContainer, "quiesce-restore-init"}) {
		t.Errorf("db-0 init containers %v", got)
	}
}

// A pod restored by quiesce before carries the wait container, the signal
// volume and the init hook containers: they must not be doubled.
func TestBuildPodFromEarlierRestore(t *testing.T) {
	const earlier = `
apiVersion: v1
kind: Pod
metadata:
  name: app-0
  namespace: shop
  annotations:
    init.hook.restore.velero.io/container-image: busybox:1.37
    init.hook.restore.velero.io/container-name: fix-perms
  labels: {quiesce.dev/restore: older}
spec:
  initContainers:
  - name: quiesce-restore-wait
    image: quiesce:old
    args: [restore-wait]
    volumeMounts: [{name: quiesce-restore-signal, mountPath: /quiesce-restore, readOnly: true}]
  - {name: fix-perms, image: busybox:1.37}
  containers: [{name: app, image: nginx:1.27, volumeMounts: [{name: data, mountPath: /data}]}]
  volumes:
  - {name: data, emptyDir: {}}
  - {name: quiesce-restore-signal, emptyDir: {}}
`
	doc := &resources.Document{Items: items(t, earlier), Backup: api.Backup{Status: api.BackupStatus{}}, Pods: []api.PodResult{
		{Namespace: "shop", Name: "app-0", Volumes: []api.VolumeResult{{Name: "data", SnapshotID: "s1"}}}}}
	p := mustBuild(t, doc, &api.RestoreSpec{BackupName: "b"})
	pod := podOf(t, step(t, p, "pods", "shop", "app-0"))
	if got := containerNames(pod.Spec.InitContainers); !slices.Equal(got, []string{api.RestoreWaitContainer, "fix-perms"}) {
		t.Errorf("init containers %v", got)
	}
	if pod.Spec.InitContainers[0].Image != testOptions().HelperImage {
		t.Errorf("wait container is the old one: %s", pod.Spec.InitContainers[0].Image)
	}
	if got := volumeNames(pod.Spec.Volumes); !slices.Equal(got, []string{"data", api.RestoreSignalVolume}) {
		t.Errorf("volumes %v", got)
	}
	if pod.Labels[api.LabelRestore] != "r1" {
		t.Errorf("restore label %q", pod.Labels[api.LabelRestore])
	}
	if !warningWith(p, "pod shop/app-0", `already has a container named "fix-perms"`) {
		t.Errorf("warnings %q", p.Warnings)
	}
	if !hasStep(p, "namespaces", "", "shop") {
		t.Errorf("no namespace step for shop, which the backup has no object of: %v", stepKeys(p))
	}
}

func TestBuildPodsWithoutWork(t *testing.T) {
	const pods = `
apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: ns1}
spec: {containers: [{name: app, image: nginx:1.27}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: init-only
  namespace: ns1
  annotations: {init.hook.restore.quiesce.dev/container-image: "busybox:1.37", init.hook.restore.quiesce.dev/command: '["true"]'}
spec: {containers: [{name: app, image: nginx:1.27}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: exec-only
  namespace: ns1
  annotations: {post.hook.restore.quiesce.dev/command: '["/migrate"]', post.hook.restore.quiesce.dev/wait-timeout: 0s}
spec: {containers: [{name: app, image: nginx:1.27}]}
`
	doc := &resources.Document{Items: items(t, pods)}
	opt := testOptions()
	opt.HelperImage = "" // no volume data: no wait container, no image needed
	p, err := Build(doc, &api.RestoreSpec{BackupName: "b", NamespaceMapping: map[string]string{"ns1": "ns2"}}, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Pods) != 1 || p.Pods[0].Name != "exec-only" || len(p.Pods[0].Volumes) != 0 || len(p.Pods[0].Hooks) != 1 ||
		p.Pods[0].Hooks[0].WaitTimeout.Duration != time.Hour || p.Pods[0].Namespace != "ns2" || p.Pods[0].SourceNamespace != "ns1" {
		t.Errorf("pod work %+v, want the exec-only pod's hook alone, its wait bounded", p.Pods)
	}
	if pod := podOf(t, step(t, p, "pods", "ns2", "exec-only")); len(pod.Spec.InitContainers) != 0 {
		t.Errorf("exec-only pod got init containers %v", containerNames(pod.Spec.InitContainers))
	}
	if got := stepKeys(p); !slices.Equal(got, []string{"namespaces ns2", "pods ns2/exec-only", "pods ns2/init-only", "pods ns2/plain"}) {
		t.Errorf("steps %v", got)
	}
	ns := step(t, p, "namespaces", "", "ns2").Item
	if ns.Object.GetLabels()[api.LabelRestore] != "r1" || ns.Kind != "Namespace" || ns.Version != "v1" || ns.Object.GetAPIVersion() != "v1" {
		t.Errorf("bare namespace %+v %v", ns, ns.Object.Object)
	}
	if pod := podOf(t, step(t, p, "pods", "ns2", "plain")); len(pod.Spec.InitContainers)+len(pod.Spec.Volumes) != 0 {
		t.Errorf("plain pod got %v %v", pod.Spec.InitContainers, pod.Spec.Volumes)
	}
	pod := podOf(t, step(t, p, "pods", "ns2", "init-only"))
	if got := containerNames(pod.Spec.InitContainers); !slices.Equal(got, []string{"quiesce-restore-init"}) || len(pod.Spec.Volumes) != 0 {
		t.Errorf("init-only pod: init containers %v volumes %v", got, pod.Spec.Volumes)
	}
}

func TestBuildDoesNotMutateInput(t *testing.T) {
	doc := shopDoc(t)
	r, err := api.DecodeRestore([]byte(veleroRestore))
	if err != nil {
		t.Fatal(err)
	}
	spec := r.Spec
	spec.IncludedNamespaces = nil
	spec.ExcludedResources = nil
	spec.NamespaceMapping = map[string]string{"shop": "shop-2", "other": "other-2"}
	snapshot := func() string {
		b, err := json.Marshal(struct {
			D *resources.Document
			S api.RestoreSpec
		}{doc, spec})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	before := snapshot()
	p := mustBuild(t, doc, &spec)
	if after := snapshot(); after != before {
		t.Fatal("Build changed its input")
	}
	// the plan's objects are not shared with the document either
	step(t, p, "pods", "shop-2", "db-0").Item.Object.SetLabels(map[string]string{"x": "y"})
	if snapshot() != before {
		t.Fatal("plan objects share memory with the document")
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	spec := &api.RestoreSpec{BackupName: "nightly-1", NamespaceMapping: map[string]string{"shop": "s2"}}
	a := mustBuild(t, shopDoc(t), spec)
	doc := shopDoc(t)
	slices.Reverse(doc.Items)
	b := mustBuild(t, doc, spec)
	if !reflect.DeepEqual(stepKeys(a), stepKeys(b)) || !reflect.DeepEqual(a.Pods, b.Pods) || !reflect.DeepEqual(a.Skipped, b.Skipped) {
		t.Errorf("plans differ with the items reversed:\n%v\n%v", stepKeys(a), stepKeys(b))
	}
	for i := range a.Steps {
		if !reflect.DeepEqual(a.Steps[i], b.Steps[i]) {
			t.Errorf("step %s differs", key(a.Steps[i].Item))
		}
	}
	wa, wb := slices.Clone(a.Warnings), slices.Clone(b.Warnings)
	slices.Sort(wa)
	slices.Sort(wb)
	if !slices.Equal(wa, wb) {
		t.Errorf("warnings differ: %q vs %q", wa, wb)
	}
}

func TestBuildMappingOntoRestoredNamespaceWarns(t *testing.T) {
	p := mustBuild(t, shopDoc(t), &api.RestoreSpec{BackupName: "nightly-1", NamespaceMapping: map[string]string{"other": "shop"}})
	if !warningWith(p, "namespace other is restored into shop, which is also restored as itself") {
		t.Errorf("warnings %q", p.Warnings)
	}
}

func TestBuildErrors(t *testing.T) {
	ok := api.RestoreSpec{BackupName: "nightly-1"}
	tests := []struct {
		name string
		doc  func(*resources.Document) *resources.Document
		spec func(api.RestoreSpec) *api.RestoreSpec
		opt  func(*Options)
		want []string // all in the error
	}{
		{name: "mapping target not a DNS label",
			spec: func(s api.RestoreSpec) *api.RestoreSpec {
				s.NamespaceMapping = map[string]string{"shop": "Shop_2"}
				return &s
			},
			want: []string{"restore r1:", `spec.namespaceMapping["shop"]="Shop_2"`, "not a valid namespace name", "use lowercase letters"}},
		{name: "mapping target empty",
			spec: func(s api.RestoreSpec) *api.RestoreSpec {
				s.NamespaceMapping = map[string]string{"shop": ""}
				return &s
			},
			want: []string{`spec.namespaceMapping["shop"]=""`, "not a valid namespace name"}},
		{name: "two sources onto one target",
			spec: func(s api.RestoreSpec) *api.RestoreSpec {
				s.NamespaceMapping = map[string]string{"shop": "merged", "other": "merged"}
				return &s
			},
			want: []string{`spec.namespaceMapping["shop"]="merged"`, `namespaces "other" and "shop" are both mapped onto "merged"`, "map each onto its own namespace"}},
		{name: "bad label selector",
			spec: func(s api.RestoreSpec) *api.RestoreSpec {
				s.LabelSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}
				return &s
			},
			want: []string{"spec.labelSelector", "Near"}},
		{name: "empty included resource",
			spec: func(s api.RestoreSpec) *api.RestoreSpec { s.IncludedResources = []string{"pods", " "}; return &s },
			want: []string{"spec.includedResources[1] is empty"}},
		{name: "no timeout", opt: func(o *Options) { o.Timeout = 0 },
			want: []string{"restore r1", "Timeout", "positive duration"}},
		{name: "no restore name", opt: func(o *Options) { o.RestoreName = "" },
			want: []string{"RestoreName is empty"}},
		{name: "no helper image with volume data", opt: func(o *Options) { o.HelperImage = "" },
			want: []string{"restore r1", "HelperImage is empty", "wait init container"}},
		{name: "no document", doc: func(*resources.Document) *resources.Document { return nil },
			want: []string{"no backup document"}},
		{name: "no spec", spec: func(api.RestoreSpec) *api.RestoreSpec { return nil },
			want: []string{"no restore spec"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, spec, opt := shopDoc(t), &ok, testOptions()
			if tc.doc != nil {
				doc = tc.doc(doc)
			}
			if tc.spec != nil {
				spec = tc.spec(ok)
			}
			if tc.opt != nil {
				tc.opt(&opt)
			}
			p, err := Build(doc, spec, opt)
			if err == nil {
				t.Fatalf("no error; plan has %d steps", len(p.Steps))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestBuildBadItems(t *testing.T) {
	doc := shopDoc(t)
	doc.Items = append(doc.Items,
		resources.Item{Version: "v1", Resource: "configmaps", Kind: "ConfigMap", Namespaced: true},
		doc.Items[len(doc.Items)-2], // other/other-config twice
		resources.Item{Version: "v1", Resource: "pods", Kind: "Pod", Namespaced: true, Object: &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "broken", "namespace": "shop"}, "spec": "nope"}}},
	)
	p := mustBuild(t, doc, &api.RestoreSpec{BackupName: "nightly-1"})
	for _, w := range []string{"no object stored", "configmaps other/other-config: stored twice", "pods shop/broken"} {
		if !warningWith(p, w) {
			t.Errorf("no warning with %q: %q", w, p.Warnings)
		}
	}
	if hasStep(p, "pods", "shop", "broken") {
		t.Error("broken pod planned")
	}
	n := 0
	for _, k := range stepKeys(p) {
		if k == "configmaps other/other-config" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("other-config planned %d times", n)
	}
}

func TestBuildSpecHookProblems(t *testing.T) {
	spec := &api.RestoreSpec{BackupName: "nightly-1", Hooks: api.RestoreHooks{Resources: []api.RestoreResourceHookSpec{
		{Name: "bad-selector", LabelSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}},
			PostHooks: []api.RestoreResourceHook{{Exec: &api.RestoreExecHook{Command: []string{"true"}}}}},
		{Name: "no-pods", IncludedNamespaces: []string{"nowhere"},
			PostHooks: []api.RestoreResourceHook{{Exec: &api.RestoreExecHook{}}}},
		{Name: "db", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			PostHooks: []api.RestoreResourceHook{
				{Init: &api.InitRestoreHook{InitContainers: []corev1.Container{{Name: "ok", Image: "busybox:1.37", Command: []string{"true"}}}}},
				{Init: &api.InitRestoreHook{InitContainers: []corev1.Container{{Name: "no-image", Command: []string{"true"}}}}},
			}},
	}}}
	p := mustBuild(t, shopDoc(t), spec)
	count := func(parts ...string) int {
		n := 0
		for _, w := range p.Warnings {
			ok := true
			for _, s := range parts {
				ok = ok && strings.Contains(w, s)
			}
			if ok {
				n++
			}
		}
		return n
	}
	if n := count("restore r1: spec.hooks.resources[0].labelSelector", "invalid label selector"); n != 1 {
		t.Errorf("selector problem reported %d times, want once for the restore: %q", n, p.Warnings)
	}
	if n := count("spec.hooks.resources[0].labelSelector"); n != 1 {
		t.Errorf("selector problem repeated per pod: %q", p.Warnings)
	}
	if n := count("restore r1: spec.hooks.resources[1].postHooks[0].exec.command", "empty command"); n != 1 {
		t.Errorf("entry selecting no pod not checked: %q", p.Warnings)
	}
	if n := count("spec.hooks.resources[2].postHooks[1].init.initContainers[0].image", "empty image"); n != 1 {
		t.Errorf("init container problem: %q", p.Warnings)
	}
	db := podOf(t, step(t, p, "pods", "shop", "db-0"))
	if got := containerNames(db.Spec.InitContainers); !slices.Equal(got, []string{api.RestoreWaitContainer, "ok"}) {
		t.Errorf("db-0 init containers %v: want the valid spec init hook only", got)
	}
}

// Only quiesce's and Velero's own objects are left out: a user's group
// under those domains is the user's data.
func TestUserGroupsUnderToolDomainsAreRestored(t *testing.T) {
	doc := &resources.Document{FormatVersion: resources.FormatVersion, Items: items(t, `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: shop.quiesce.dev/v1
kind: Widget
metadata: {name: gear, namespace: shop}
---
apiVersion: quiesce.dev/v1alpha1
kind: Backup
metadata: {name: nightly, namespace: shop}
---
apiVersion: velero.io/v1
kind: Restore
metadata: {name: old, namespace: shop}
`)}
	p := mustBuild(t, doc, &api.RestoreSpec{BackupName: "b"})
	if got := stepKeys(p); !slices.Contains(got, "widgets.shop.quiesce.dev shop/gear") || len(got) != 2 {
		t.Errorf("steps %v: want the namespace and the widget", got)
	}
	if len(p.Skipped) != 2 {
		t.Errorf("skipped %+v: want the Backup and the Velero Restore", p.Skipped)
	}
}

// A misspelt policy would silently leave existing objects alone: refused,
// naming the field and the values.
func TestExistingResourcePolicyIsChecked(t *testing.T) {
	_, err := Build(shopDoc(t), &api.RestoreSpec{BackupName: "b", ExistingResourcePolicy: "Update"}, testOptions())
	if err == nil || !strings.Contains(err.Error(), `spec.existingResourcePolicy "Update": use "none"`) {
		t.Fatalf("Build with policy Update: %v", err)
	}
	if _, err := Build(shopDoc(t), &api.RestoreSpec{BackupName: "b", ExistingResourcePolicy: "update"}, testOptions()); err != nil {
		t.Fatalf("Build with policy update: %v", err)
	}
}
