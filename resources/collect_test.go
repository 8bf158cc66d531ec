package resources

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"
)

var rw = []string{"get", "list", "watch", "create", "update", "delete"}

// testDiscovery is a small cluster: core, apps, rbac, the skipped groups,
// one CRD-backed group and the quiesce types.
func testDiscovery() *fakediscovery.FakeDiscovery {
	res := func(name, kind string, namespaced bool, verbs ...string) metav1.APIResource {
		if len(verbs) == 0 {
			verbs = rw
		}
		return metav1.APIResource{Name: name, Kind: kind, Namespaced: namespaced, Verbs: verbs}
	}
	return &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			res("namespaces", "Namespace", false), res("persistentvolumes", "PersistentVolume", false),
			res("pods", "Pod", true), res("pods/log", "Pod", true, "get"), res("bindings", "Binding", true, "create"),
			res("configmaps", "ConfigMap", true), res("secrets", "Secret", true), res("events", "Event", true),
			res("endpoints", "Endpoints", true), res("persistentvolumeclaims", "PersistentVolumeClaim", true),
			res("services", "Service", true),
		}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{res("deployments", "Deployment", true)}},
		{GroupVersion: "rbac.authorization.k8s.io/v1", APIResources: []metav1.APIResource{res("roles", "Role", true)}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{res("events", "Event", true)}},
		{GroupVersion: "discovery.k8s.io/v1", APIResources: []metav1.APIResource{res("endpointslices", "EndpointSlice", true)}},
		{GroupVersion: "coordination.k8s.io/v1", APIResources: []metav1.APIResource{res("leases", "Lease", true)}},
		{GroupVersion: "metrics.k8s.io/v1beta1", APIResources: []metav1.APIResource{res("pods", "PodMetrics", true, "get", "list")}},
		{GroupVersion: "quiesce.dev/v1alpha1", APIResources: []metav1.APIResource{
			res("backups", "Backup", true), res("nodebackups", "NodeBackup", true),
			res("restores", "Restore", true), res("noderestores", "NodeRestore", true),
		}},
		{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{res("widgets", "Widget", true)}},
		{GroupVersion: "storage.k8s.io/v1", APIResources: []metav1.APIResource{res("storageclasses", "StorageClass", false)}},
		{GroupVersion: "apiextensions.k8s.io/v1", APIResources: []metav1.APIResource{res("customresourcedefinitions", "CustomResourceDefinition", false)}},
	}}}
}

var listKinds = map[schema.GroupVersionResource]string{
	{Version: "v1", Resource: "namespaces"}:                                               "NamespaceList",
	{Version: "v1", Resource: "persistentvolumes"}:                                        "PersistentVolumeList",
	{Version: "v1", Resource: "pods"}:                                                     "PodList",
	{Version: "v1", Resource: "configmaps"}:                                               "ConfigMapList",
	{Version: "v1", Resource: "secrets"}:                                                  "SecretList",
	{Version: "v1", Resource: "events"}:                                                   "EventList",
	{Version: "v1", Resource: "endpoints"}:                                                "EndpointsList",
	{Version: "v1", Resource: "services"}:                                                 "ServiceList",
	{Version: "v1", Resource: "persistentvolumeclaims"}:                                   "PersistentVolumeClaimList",
	{Group: "apps", Version: "v1", Resource: "deployments"}:                               "DeploymentList",
	{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}:                "RoleList",
	{Group: "events.k8s.io", Version: "v1", Resource: "events"}:                           "EventList",
	{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}:                "EndpointSliceList",
	{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}:                     "LeaseList",
	{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "pods"}:                       "PodMetricsList",
	{Group: "quiesce.dev", Version: "v1alpha1", Resource: "backups"}:                      "BackupList",
	{Group: "quiesce.dev", Version: "v1alpha1", Resource: "nodebackups"}:                  "NodeBackupList",
	{Group: "quiesce.dev", Version: "v1alpha1", Resource: "restores"}:                     "RestoreList",
	{Group: "quiesce.dev", Version: "v1alpha1", Resource: "noderestores"}:                 "NodeRestoreList",
	{Group: "example.com", Version: "v1", Resource: "widgets"}:                            "WidgetList",
	{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses"}:                  "StorageClassList",
	{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}: "CustomResourceDefinitionList",
}

func obj(apiVersion, kind, ns, name string, fields map[string]any) *unstructured.Unstructured {
	md := map[string]any{
		"name": name, "uid": "uid-" + name, "resourceVersion": "42", "creationTimestamp": "2026-01-02T03:04:05Z",
		"generation": int64(3), "managedFields": []any{map[string]any{"manager": "kubectl"}}, "selfLink": "/x",
	}
	if ns != "" {
		md["namespace"] = ns
	}
	o := map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md, "status": map[string]any{"phase": "Whatever"}}
	for k, v := range fields {
		if k == "labels" || k == "annotations" || k == "ownerReferences" || k == "finalizers" {
			md[k] = v
			continue
		}
		o[k] = v
	}
	return &unstructured.Unstructured{Object: o}
}

func labelsOf(kv ...string) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func testObjects() []runtime.Object {
	web := map[string]any{"labels": labelsOf("app", "web"), "annotations": labelsOf("note", "keep"),
		"ownerReferences": []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "name": "cfg", "uid": "uid-cfg"}},
		"finalizers":      []any{"example.com/keep"}, "spec": map[string]any{"replicas": int64(2)}}
	return []runtime.Object{
		obj("v1", "Namespace", "", "shop", nil),
		obj("v1", "Namespace", "", "other", nil),
		obj("v1", "Namespace", "", "kube-system", nil),
		obj("apps/v1", "Deployment", "shop", "web", web),
		obj("apps/v1", "Deployment", "shop", "api", map[string]any{"labels": labelsOf("app", "api")}),
		obj("apps/v1", "Deployment", "other", "elsewhere", map[string]any{"labels": labelsOf("app", "web")}),
		obj("v1", "Pod", "shop", "web-0", map[string]any{"labels": labelsOf("app", "web")}),
		obj("v1", "Pod", "shop", "migrate-x1", map[string]any{"status": map[string]any{"phase": "Succeeded"}}), // finished: never runs again
		obj("v1", "ConfigMap", "shop", "cfg", nil),
		obj("v1", "ConfigMap", "other", "x", nil),
		obj("v1", "Secret", "shop", "creds", map[string]any{"type": "Opaque"}),
		obj("v1", "Secret", "shop", "default-token-abc", map[string]any{"type": "kubernetes.io/service-account-token"}),
		obj("v1", "Event", "shop", "web.1", nil),
		obj("events.k8s.io/v1", "Event", "shop", "web.2", nil),
		obj("v1", "Endpoints", "shop", "web", nil), // the controller's: web has a selector
		obj("v1", "Service", "shop", "web", map[string]any{"spec": map[string]any{"selector": labelsOf("app", "web")}}),
		obj("v1", "Endpoints", "shop", "external-db", nil), // written by hand for a selectorless Service
		obj("v1", "Service", "shop", "external-db", map[string]any{"spec": map[string]any{"ports": []any{map[string]any{"port": int64(5432)}}}}),
		obj("v1", "Endpoints", "shop", "orphan", nil),
		obj("discovery.k8s.io/v1", "EndpointSlice", "shop", "web-abc", nil),
		obj("coordination.k8s.io/v1", "Lease", "shop", "leader", nil),
		obj("metrics.k8s.io/v1beta1", "PodMetrics", "shop", "web-0", nil),
		obj("quiesce.dev/v1alpha1", "Backup", "shop", "b1", nil),
		obj("quiesce.dev/v1alpha1", "NodeBackup", "shop", "b1-node", nil),
		obj("quiesce.dev/v1alpha1", "Restore", "shop", "r1", nil),
		obj("quiesce.dev/v1alpha1", "NodeRestore", "shop", "r1-node", nil),
		obj("example.com/v1", "Widget", "shop", "w1", nil),
		obj("rbac.authorization.k8s.io/v1", "Role", "shop", "reader", nil),
		obj("v1", "PersistentVolumeClaim", "shop", "data", map[string]any{"spec": map[string]any{"volumeName": "pv-1", "storageClassName": "fast"}}),
		obj("v1", "PersistentVolumeClaim", "shop", "pending", map[string]any{"spec": map[string]any{"storageClassName": "gone"}}),
		obj("v1", "PersistentVolume", "", "pv-1", map[string]any{"spec": map[string]any{"storageClassName": "fast-pv"}}),
		obj("v1", "PersistentVolume", "", "pv-unrelated", nil),
		obj("storage.k8s.io/v1", "StorageClass", "", "fast", nil),
		obj("storage.k8s.io/v1", "StorageClass", "", "fast-pv", nil),
		obj("storage.k8s.io/v1", "StorageClass", "", "slow", nil),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com", nil),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "gadgets.example.com", nil),
	}
}

func newFakes(t *testing.T) (*fakediscovery.FakeDiscovery, *dynamicfake.FakeDynamicClient) {
	t.Helper()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, testObjects()...)
	// Roles cannot be listed (say RBAC forbids it): a warning, not a failure.
	dyn.PrependReactor("list", "roles", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("roles.rbac.authorization.k8s.io is forbidden")
	})
	return testDiscovery(), dyn
}

func keys(items []Item) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		k := it.GroupResource() + " " + it.Object.GetName()
		if it.Namespaced {
			k = it.GroupResource() + " " + it.Object.GetNamespace() + "/" + it.Object.GetName()
		}
		out = append(out, k)
	}
	return out
}

func TestCollectNamespace(t *testing.T) {
	disco, dyn := newFakes(t)
	items, warnings, err := Collect(t.Context(), disco, dyn, Scope{IncludedNamespaces: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	// In order: cluster-scoped first, then by group, resource, namespace, name.
	want := []string{
		"namespaces shop",
		"persistentvolumes pv-1",
		"customresourcedefinitions.apiextensions.k8s.io widgets.example.com",
		"storageclasses.storage.k8s.io fast",
		"storageclasses.storage.k8s.io fast-pv",
		"configmaps shop/cfg",
		"endpoints shop/external-db",
		"persistentvolumeclaims shop/data",
		"persistentvolumeclaims shop/pending",
		"pods shop/web-0",
		"secrets shop/creds",
		"services shop/external-db",
		"services shop/web",
		"deployments.apps shop/api",
		"deployments.apps shop/web",
		"widgets.example.com shop/w1",
	}
	if got := keys(items); !slices.Equal(got, want) {
		t.Fatalf("items:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "roles.rbac.authorization.k8s.io") || !strings.Contains(warnings[0], "forbidden") {
		t.Fatalf("warnings = %q, want one naming roles.rbac.authorization.k8s.io", warnings)
	}

	var web *Item
	for i := range items {
		if items[i].Resource == "deployments" && items[i].Object.GetName() == "web" {
			web = &items[i]
		}
	}
	if web.Group != "apps" || web.Version != "v1" || web.Kind != "Deployment" || !web.Namespaced {
		t.Fatalf("deployment item = %+v", *web)
	}
	o := web.Object.Object
	md := o["metadata"].(map[string]any)
	for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink"} {
		if _, ok := md[f]; ok {
			t.Errorf("metadata.%s not stripped: %v", f, md[f])
		}
	}
	if _, ok := o["status"]; ok {
		t.Error("status not stripped")
	}
	for _, f := range []string{"labels", "annotations", "ownerReferences", "finalizers"} {
		if _, ok := md[f]; !ok {
			t.Errorf("metadata.%s was removed; the restore decides about it", f)
		}
	}
	if r, _, _ := unstructured.NestedInt64(o, "spec", "replicas"); r != 2 {
		t.Errorf("spec.replicas = %d, want 2 (spec is kept)", r)
	}
	for _, it := range items {
		if _, ok := it.Object.Object["status"]; ok {
			t.Errorf("%s %s: status not stripped", it.GroupResource(), it.Object.GetName())
		}
	}
}

func TestCollectLabelSelector(t *testing.T) {
	disco, dyn := newFakes(t)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	items, _, err := Collect(t.Context(), disco, dyn, Scope{IncludedNamespaces: []string{"shop", "other"}, LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	// The PVCs are not labelled: no PV, no StorageClass.
	want := []string{"namespaces other", "namespaces shop", "pods shop/web-0", "deployments.apps other/elsewhere", "deployments.apps shop/web"}
	if got := keys(items); !slices.Equal(got, want) {
		t.Fatalf("items = %q, want %q", got, want)
	}
}

func TestCollectAllNamespacesMinusExcluded(t *testing.T) {
	disco, dyn := newFakes(t)
	all, _, err := Collect(t.Context(), disco, dyn, Scope{IncludedNamespaces: []string{"*"}, ExcludedNamespaces: []string{"other", "kube-system"}})
	if err != nil {
		t.Fatal(err)
	}
	one, _, err := Collect(t.Context(), disco, dyn, Scope{IncludedNamespaces: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys(all), keys(one)) {
		t.Fatalf("all-but-excluded = %q\nwant the same as shop alone: %q", keys(all), keys(one))
	}
	// Empty includes everything too.
	every, _, err := Collect(t.Context(), disco, dyn, Scope{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(keys(every), "configmaps other/x") || !slices.Contains(keys(every), "namespaces kube-system") {
		t.Fatalf("empty scope misses other namespaces: %q", keys(every))
	}
}

func TestCollectMissingNamespaceIsAWarning(t *testing.T) {
	disco, dyn := newFakes(t)
	_, warnings, err := Collect(t.Context(), disco, dyn, Scope{IncludedNamespaces: []string{"shop", "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "namespace nope") }) {
		t.Fatalf("warnings = %q, want one about namespace nope", warnings)
	}
}

func TestCollectBadSelector(t *testing.T) {
	disco, dyn := newFakes(t)
	sel := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Sometimes"}}}
	_, _, err := Collect(t.Context(), disco, dyn, Scope{LabelSelector: sel})
	if err == nil || !strings.Contains(err.Error(), "spec.labelSelector") {
		t.Fatalf("err = %v, want one naming spec.labelSelector", err)
	}
}

func ExampleItem_GroupResource() {
	fmt.Println(Item{Group: "apps", Resource: "deployments"}.GroupResource(), Item{Resource: "pods"}.GroupResource())
	// Output: deployments.apps pods
}
