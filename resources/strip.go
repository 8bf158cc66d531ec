package resources

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// skippedGroupResources are never stored: the cluster makes them again
// (events, endpoint slices, leases), they describe the live cluster only
// (metrics), or they are quiesce's own records of backups and restores.
// Endpoints are sorted out later (dropManagedEndpoints): those of
// selectorless Services are written by hand and must be kept.
var skippedGroupResources = map[schema.GroupResource]bool{
	{Resource: "events"}:                                      true,
	{Group: "events.k8s.io", Resource: "events"}:              true,
	{Group: "discovery.k8s.io", Resource: "endpointslices"}:   true,
	{Group: "coordination.k8s.io", Resource: "leases"}:        true,
	{Group: api.GroupVersion.Group, Resource: "backups"}:      true,
	{Group: api.GroupVersion.Group, Resource: "nodebackups"}:  true,
	{Group: api.GroupVersion.Group, Resource: "restores"}:     true,
	{Group: api.GroupVersion.Group, Resource: "noderestores"}: true,
}

// skippedGroups are whole API groups that are never stored.
var skippedGroups = map[string]bool{"metrics.k8s.io": true}

func skipped(gr schema.GroupResource) bool {
	return skippedGroupResources[gr] || skippedGroups[gr.Group]
}

// skipObject reports objects of a stored type that are still left out:
// service-account token Secrets are minted by the cluster for the new
// ServiceAccount, and a restored copy would hold a token of the old one.
func skipObject(gr schema.GroupResource, o *unstructured.Unstructured) bool {
	switch gr {
	case schema.GroupResource{Resource: "secrets"}:
		t, _, _ := unstructured.NestedString(o.Object, "type")
		return t == "kubernetes.io/service-account-token"
	case schema.GroupResource{Resource: "pods"}:
		// A finished pod never runs again: restoring it would only add
		// a dead object (or, for a Job's pod, a second run).
		ph, _, _ := unstructured.NestedString(o.Object, "status", "phase")
		return ph == "Succeeded" || ph == "Failed"
	}
	return false
}

// serverSetMetadata is what the API server sets and a create must not carry.
// ownerReferences, labels, annotations and finalizers stay: the restore
// decides what to do with them.
var serverSetMetadata = []string{
	"uid", "resourceVersion", "creationTimestamp", "managedFields", "generation",
	"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
}

// strip removes status and server-set metadata from o, in place.
func strip(o *unstructured.Unstructured) {
	unstructured.RemoveNestedField(o.Object, "status")
	for _, f := range serverSetMetadata {
		unstructured.RemoveNestedField(o.Object, "metadata", f)
	}
}
