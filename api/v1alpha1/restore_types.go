package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RestorePhase is the lifecycle phase of a Restore (Velero's names). Every
// Restore ends in Completed, PartiallyFailed or Failed: each wait on the way
// has a deadline.
type RestorePhase string

const (
	RestorePhaseNew             RestorePhase = "New"
	RestorePhaseInProgress      RestorePhase = "InProgress"
	RestorePhaseCompleted       RestorePhase = "Completed"
	RestorePhasePartiallyFailed RestorePhase = "PartiallyFailed"
	RestorePhaseFailed          RestorePhase = "Failed"
)

// ExistingResourcePolicy says what a restore does with an object that
// already exists: "none" leaves it alone (reported), "update" updates it.
type ExistingResourcePolicy string

const (
	ExistingResourcePolicyNone   ExistingResourcePolicy = "none"
	ExistingResourcePolicyUpdate ExistingResourcePolicy = "update"
)

// RestoreSpec has Velero's field names where Velero has the field, so a
// velero.io/v1 Restore manifest works with only its apiVersion changed.
type RestoreSpec struct {
	// BackupName is the Backup whose objects and volume data are restored.
	BackupName string `json:"backupName"`
	// IncludedNamespaces selects the backed-up namespaces to restore
	// (original names); empty or "*" means all.
	IncludedNamespaces []string `json:"includedNamespaces,omitempty"`
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`
	// IncludedResources / ExcludedResources select resource types by
	// plural name, optionally with the group ("deployments.apps").
	IncludedResources []string `json:"includedResources,omitempty"`
	ExcludedResources []string `json:"excludedResources,omitempty"`
	// NamespaceMapping restores namespace A's objects into namespace B.
	NamespaceMapping map[string]string `json:"namespaceMapping,omitempty"`
	// LabelSelector restores only objects with matching labels.
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// ExistingResourcePolicy is "none" (default) or "update".
	// +kubebuilder:validation:Enum=none;update
	ExistingResourcePolicy ExistingResourcePolicy `json:"existingResourcePolicy,omitempty"`
	// Hooks are restore hooks in Velero's shape (exec post-hooks, init).
	Hooks RestoreHooks `json:"hooks,omitempty"`

	// The fields below are quiesce's own; Velero fields it does not act on
	// (scheduleName, restorePVs, preserveNodePorts, ...) are accepted and
	// ignored.

	// Timeout bounds the whole restore, waits for pods and hooks with no
	// waitTimeout of their own included. Default 1h.
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// RestoreItemOutcome says what a restore did with one object.
type RestoreItemOutcome string

const (
	ItemCreated RestoreItemOutcome = "Created"
	ItemUpdated RestoreItemOutcome = "Updated"
	ItemExisted RestoreItemOutcome = "Existed" // left alone (existingResourcePolicy none)
	ItemFailed  RestoreItemOutcome = "Failed"
	ItemSkipped RestoreItemOutcome = "Skipped" // left out on purpose (e.g. a Job's pod), with why
)

// RestoredItem is one object the restore created, updated, left alone or
// failed on. Status lists those not Created (and counts all).
type RestoredItem struct {
	// Resource is "<plural>.<group>" ("deployments.apps", "configmaps").
	Resource  string             `json:"resource"`
	Namespace string             `json:"namespace,omitempty"` // target namespace
	Name      string             `json:"name"`
	Outcome   RestoreItemOutcome `json:"outcome"`
	Message   string             `json:"message,omitempty"`
}

// RestoreProgress counts objects.
type RestoreProgress struct {
	TotalItems    int `json:"totalItems,omitempty"`
	ItemsRestored int `json:"itemsRestored,omitempty"`
}

// RestoreStatus is the record of a restore; `quiesce restore describe` reads it.
type RestoreStatus struct {
	Phase               RestorePhase    `json:"phase,omitempty"`
	StartTimestamp      *metav1.Time    `json:"startTimestamp,omitempty"`
	CompletionTimestamp *metav1.Time    `json:"completionTimestamp,omitempty"`
	Progress            RestoreProgress `json:"progress,omitempty"`
	// FailureReason says why a Restore is Failed.
	FailureReason  string `json:"failureReason,omitempty"`
	HooksAttempted int    `json:"hooksAttempted,omitempty"`
	HooksFailed    int    `json:"hooksFailed,omitempty"`
	// Items lists the objects not simply created: existing, updated, failed.
	Items []RestoredItem `json:"items,omitempty"`
	// NodeRestores names the per-node assignments.
	NodeRestores []string `json:"nodeRestores,omitempty"`
	// Pods has one entry per restored pod with volume data or hooks.
	Pods     []RestorePodResult `json:"pods,omitempty"`
	Errors   []string           `json:"errors,omitempty"`
	Warnings []string           `json:"warnings,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=qr
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.spec.backupName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Started",type=date,JSONPath=`.status.startTimestamp`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Restore recreates a Backup's objects, restores its volume data into the
// recreated pods and runs restore hooks.
type Restore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   RestoreSpec   `json:"spec,omitempty"`
	Status RestoreStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RestoreList is a list of Restores.
type RestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Restore `json:"items"`
}
