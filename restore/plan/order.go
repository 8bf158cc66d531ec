package plan

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/quiesce-dev/quiesce/resources"
)

// creationOrder ranks the resource types everything else depends on.
// Pods come before their ReplicaSets so that the restored ReplicaSets adopt
// them instead of creating new pods (without the restored data); other
// workloads follow, sorted by group-resource, and custom resources last.
var creationOrder = []string{
	"customresourcedefinitions.apiextensions.k8s.io",
	"namespaces",
	"storageclasses.storage.k8s.io",
	"persistentvolumes",
	"persistentvolumeclaims",
	"serviceaccounts",
	"secrets",
	"configmaps",
	"limitranges",
	"resourcequotas",
	"roles.rbac.authorization.k8s.io",
	"clusterroles.rbac.authorization.k8s.io",
	"rolebindings.rbac.authorization.k8s.io",
	"clusterrolebindings.rbac.authorization.k8s.io",
	"services",
	"pods",
	"replicasets.apps",
}

var rankOf = func() map[string]int {
	m := map[string]int{}
	for i, r := range creationOrder {
		m[r] = i
	}
	return m
}()

// crdGroups are the API groups of the CRDs in the backup: their objects are
// custom resources, created after everything else.
func crdGroups(doc *resources.Document) map[string]bool {
	groups := map[string]bool{}
	for _, it := range doc.Items {
		if it.Object == nil || it.GroupResource() != "customresourcedefinitions.apiextensions.k8s.io" {
			continue
		}
		if g, _, _ := unstructured.NestedString(it.Object.Object, "spec", "group"); g != "" {
			groups[g] = true
		}
	}
	return groups
}

// sortSteps orders steps for creation: by rank (creationOrder, then other
// types, then custom resources), then group-resource, namespace, name.
func sortSteps(steps []Step, crds map[string]bool) {
	rank := func(it resources.Item) int {
		if r, ok := rankOf[it.GroupResource()]; ok {
			return r
		}
		if crds[it.Group] {
			return len(creationOrder) + 1
		}
		return len(creationOrder)
	}
	sort.SliceStable(steps, func(i, j int) bool {
		a, b := steps[i].Item, steps[j].Item
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		if ga, gb := a.GroupResource(), b.GroupResource(); ga != gb {
			return ga < gb
		}
		if na, nb := a.Object.GetNamespace(), b.Object.GetNamespace(); na != nb {
			return na < nb
		}
		return a.Object.GetName() < b.Object.GetName()
	})
}
