// Package resources reads the Kubernetes objects of a Backup's scope through
// discovery, strips what must not be restored, and keeps them in the
// repository as one document per backup, next to the volume snapshots.
package resources

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// FormatVersion is the version of Document's layout.
const FormatVersion = 1

// Item is one stored object with the API resource it was read from, so a
// restore can write it back without discovery of the source cluster.
type Item struct {
	Group      string `json:"group,omitempty"`
	Version    string `json:"version"`
	Resource   string `json:"resource"` // plural, e.g. "deployments"
	Kind       string `json:"kind"`
	Namespaced bool   `json:"namespaced"`
	// Object has no status and no server-set metadata (uid,
	// resourceVersion, creationTimestamp, managedFields, generation).
	Object *unstructured.Unstructured `json:"object"`
}

// GVR is the item's group, version and resource.
func (it Item) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: it.Group, Version: it.Version, Resource: it.Resource}
}

// GroupResource is "<resource>.<group>", or "<resource>" for the core group:
// the form includedResources and describe output use.
func (it Item) GroupResource() string {
	if it.Group == "" {
		return it.Resource
	}
	return it.Resource + "." + it.Group
}

// Document is everything a restore needs besides the volume data: the
// Backup as it ended, its per-pod report (which maps each pod volume to
// its snapshot) and the objects of its scope.
type Document struct {
	FormatVersion int        `json:"formatVersion"`
	Backup        api.Backup `json:"backup"`
	// Pods is the backup's per-pod report (compact results: hook output is
	// in the pods' logs), kept here because the Backup's status holds only
	// counts and the first failed pods.
	Pods        []api.PodResult `json:"pods,omitempty"`
	CollectedAt time.Time       `json:"collectedAt"`
	Items       []Item          `json:"items"`
	// Warnings are resource types that could not be listed, and similar.
	Warnings []string `json:"warnings,omitempty"`
}
