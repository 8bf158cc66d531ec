// Package plan turns a backup's stored objects and a Restore spec into an
// ordered list of objects to create and the per-pod work (volume data,
// post-restore hooks) the agents do. It is pure: no API calls.
package plan

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/resources"
)

// Options are the restore's settings that are not in its spec.
type Options struct {
	RestoreName string
	RestoreUID  string
	// HelperImage runs the wait init container (`quiesce restore-wait`).
	HelperImage      string
	HelperPullPolicy corev1.PullPolicy
	// Timeout is the restore's whole budget: it bounds the wait init
	// container and every hook wait with no waitTimeout of its own.
	Timeout time.Duration
}

// Step is one object to create, already transformed for the target
// cluster (namespace mapped, server-set fields and owner references
// dropped, restore label set, pods given their init containers).
type Step struct {
	Item resources.Item
	// SourceNamespace is the namespace the object had in the backup.
	SourceNamespace string
	// WaitEstablished: a CustomResourceDefinition; later steps may need it
	// established before they can be created.
	WaitEstablished bool
}

// PodWork is what the agent on a restored pod's node must do for it.
type PodWork struct {
	// Namespace and Name are the pod's in the target cluster.
	Namespace       string
	Name            string
	SourceNamespace string
	// Volumes are filled from their snapshots before the app starts; the
	// pod has the wait init container exactly when this is not empty.
	Volumes []api.RestoreVolume
	Hooks   []api.RestoreExecHookSpec
}

// Plan is the result of Build.
type Plan struct {
	// Steps are in creation order.
	Steps []Step
	Pods  []PodWork
	// Skipped lists objects of the backup the restore leaves out on purpose
	// (e.g. finished pods), with why, for describe.
	Skipped  []api.RestoredItem
	Warnings []string
	// Errors are what leaves the restore incomplete though it goes on (a
	// pod's volume the backup holds no data of): it ends PartiallyFailed.
	Errors []string
}
