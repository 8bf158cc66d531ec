package plan

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/resources"
)

// filter is a Restore spec's selection: namespaces, resources, labels.
type filter struct {
	inNS, exNS   []string
	inRes, exRes []string
	sel          labels.Selector // nil: everything
}

func newFilter(spec *api.RestoreSpec) (*filter, error) {
	f := &filter{inNS: spec.IncludedNamespaces, exNS: spec.ExcludedNamespaces,
		inRes: lower(spec.IncludedResources), exRes: lower(spec.ExcludedResources)}
	for i, r := range f.inRes {
		if r == "" {
			return nil, fmt.Errorf("spec.includedResources[%d] is empty: name a resource such as \"deployments.apps\", or \"*\"", i)
		}
	}
	if spec.LabelSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(spec.LabelSelector)
		if err != nil {
			return nil, fmt.Errorf("spec.labelSelector: %w (fix the selector; e.g. matchLabels: {app: shop})", err)
		}
		f.sel = sel
	}
	return f, nil
}

func lower(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.ToLower(strings.TrimSpace(s))
	}
	return out
}

// namespace reports whether objects of source namespace ns are selected:
// excluded wins; empty or "*" included means all.
func (f *filter) namespace(ns string) bool {
	for _, x := range f.exNS {
		if x == ns {
			return false
		}
	}
	if len(f.inNS) == 0 {
		return true
	}
	for _, x := range f.inNS {
		if x == "*" || x == ns {
			return true
		}
	}
	return false
}

// resource reports whether it's resource type is selected; names are
// "<plural>" or "<plural>.<group>" ("deployments", "deployments.apps").
func (f *filter) resource(it resources.Item) bool {
	names := []string{strings.ToLower(it.Resource), strings.ToLower(it.GroupResource())}
	if anyOf(f.exRes, names) {
		return false
	}
	if len(f.inRes) == 0 {
		return true
	}
	for _, x := range f.inRes {
		if x == "*" {
			return true
		}
	}
	return anyOf(f.inRes, names)
}

// excluded reports whether it's resource type is explicitly excluded.
func (f *filter) excluded(it resources.Item) bool {
	return anyOf(f.exRes, []string{strings.ToLower(it.Resource), strings.ToLower(it.GroupResource())})
}

func anyOf(list, names []string) bool {
	for _, x := range list {
		for _, n := range names {
			if x == n {
				return true
			}
		}
	}
	return false
}

func (f *filter) labels(obj *unstructured.Unstructured) bool {
	return f.sel == nil || f.sel.Matches(labels.Set(obj.GetLabels()))
}

// neverRestored says why an object must not be recreated whatever the
// spec says; "" when it may be.
func neverRestored(it resources.Item) string {
	switch it.GroupResource() {
	case "nodes", "events", "events.events.k8s.io", "endpoints", "endpointslices.discovery.k8s.io",
		"leases.coordination.k8s.io", "csinodes.storage.k8s.io", "volumeattachments.storage.k8s.io":
		return it.GroupResource() + " are tied to the source cluster's state and are never restored"
	}
	// Exact groups: a user's own group under those domains (e.g.
	// shop.quiesce.dev) is the user's data.
	if it.Group == "quiesce.dev" || it.Group == "velero.io" {
		return "backup tool objects (" + it.Group + ") are never restored"
	}
	obj := it.Object
	switch it.GroupResource() {
	case "secrets":
		if t, _, _ := unstructured.NestedString(obj.Object, "type"); t == "kubernetes.io/service-account-token" {
			return "service-account token secrets are recreated by the cluster"
		}
	case "pods":
		if _, ok := obj.GetAnnotations()["kubernetes.io/config.mirror"]; ok {
			return "mirror pod of a static pod: the node's kubelet recreates it"
		}
		if ph, _, _ := unstructured.NestedString(obj.Object, "status", "phase"); ph == "Succeeded" || ph == "Failed" {
			return "pod phase is " + ph + ": finished pods are not restored"
		}
		for _, o := range obj.GetOwnerReferences() {
			if o.Controller != nil && *o.Controller && o.Kind == "Job" {
				// The restored Job gets a new selector, so it would not adopt
				// the pod; the pod would run again next to the Job's own.
				return "pod of Job " + o.Name + ": the restored Job creates its pods"
			}
		}
	}
	return ""
}

// clusterScoped decides on a cluster-scoped object: keep it, skip it
// with a reason, or leave it out silently (not selected by the spec).
//
// Restored are: the Namespaces of selected namespaces (whatever the label
// selector, as Velero; whatever the resource filter when a restored object
// lands in them), the PVs claimed by restored PVCs (unless
// "persistentvolumes" is excluded), and StorageClasses, CRDs, ClusterRoles
// and ClusterRoleBindings that pass the resource filter (the roles and
// bindings also the label selector).
func (b *builder) clusterScoped(it resources.Item, restoredNS, claimed map[string]bool) (keep bool, why string) {
	obj := it.Object
	switch it.GroupResource() {
	case "namespaces":
		ns := obj.GetName()
		return b.f.namespace(ns) && (restoredNS[ns] || b.f.resource(it)), ""
	case "persistentvolumes":
		if b.f.excluded(it) {
			return false, ""
		}
		ns, _, _ := unstructured.NestedString(obj.Object, "spec", "claimRef", "namespace")
		name, _, _ := unstructured.NestedString(obj.Object, "spec", "claimRef", "name")
		if name == "" {
			return false, "persistent volume claimed by no PVC: restored only with its claim"
		}
		if !claimed[ns+"/"+name] {
			return false, fmt.Sprintf("its claim %s/%s is not restored", ns, name)
		}
		return true, ""
	case "storageclasses.storage.k8s.io", "customresourcedefinitions.apiextensions.k8s.io":
		return b.f.resource(it), ""
	case "clusterroles.rbac.authorization.k8s.io", "clusterrolebindings.rbac.authorization.k8s.io":
		return b.f.resource(it) && b.f.labels(obj), ""
	}
	if !b.f.resource(it) {
		return false, ""
	}
	return false, "cluster-scoped " + it.GroupResource() + " are not restored"
}
