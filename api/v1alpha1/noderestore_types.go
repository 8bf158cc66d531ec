package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and names shared by the restore runner, the agent and the wait
// init container.
const (
	// LabelRestore holds the name of a NodeRestore's Restore, and is set on
	// every object a Restore creates.
	LabelRestore = "quiesce.dev/restore"
	// RestoreWaitContainer is the first init container of a restored pod with
	// volume data: it waits until the agent has restored every volume.
	RestoreWaitContainer = "quiesce-restore-wait"
	// RestoreSignalVolume is an emptyDir mounted only into the wait
	// container; the agent writes RestoreSignalFile into it when done.
	RestoreSignalVolume = "quiesce-restore-signal"
	// RestoreSignalFile holds a JSON RestoreSignal.
	RestoreSignalFile = "done.json"
)

// RestoreSignal is what the agent tells the wait init container.
type RestoreSignal struct {
	OK bool `json:"ok"`
	// Reason says which volume failed and why, when OK is false.
	Reason string `json:"reason,omitempty"`
}

// RestorePodPhase is the phase of one pod's restore on its node.
type RestorePodPhase string

const (
	RestorePodPending          RestorePodPhase = "Pending"
	RestorePodRestoringVolumes RestorePodPhase = "RestoringVolumes"
	RestorePodWaitingContainer RestorePodPhase = "WaitingForContainer"
	RestorePodRunningHooks     RestorePodPhase = "RunningHooks"
	RestorePodCompleted        RestorePodPhase = "Completed"
	// RestorePodPartiallyFailed: data restored, a hook failed.
	RestorePodPartiallyFailed RestorePodPhase = "PartiallyFailed"
	RestorePodFailed          RestorePodPhase = "Failed"
)

// RestoreVolume is one volume to fill from a snapshot.
type RestoreVolume struct {
	Name       string `json:"name"`
	SnapshotID string `json:"snapshotID"`
	// Source is the snapshot's identity (namespace/workload/volume).
	Source string `json:"source,omitempty"`
}

// RestoreExecHookSpec is a resolved post-restore exec hook; the agent runs it
// through the CRI once the container is running (or ready).
type RestoreExecHookSpec struct {
	ResolvedHook `json:",inline"`
	// WaitTimeout bounds the wait for the container; the coordinator never
	// leaves it zero (it uses the time left of the Restore's timeout).
	WaitTimeout  metav1.Duration `json:"waitTimeout"`
	WaitForReady bool            `json:"waitForReady,omitempty"`
}

// RestorePodAssignment is one restored pod the agent must fill and hook.
type RestorePodAssignment struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Volumes are restored before the pod's containers start; the pod has
	// the wait init container exactly when Volumes is not empty.
	Volumes []RestoreVolume       `json:"volumes,omitempty"`
	Hooks   []RestoreExecHookSpec `json:"hooks,omitempty"`
}

// NodeRestoreSpec is written by the restore runner and read by one node's agent.
type NodeRestoreSpec struct {
	RestoreName string `json:"restoreName"`
	RestoreUID  string `json:"restoreUID"`
	NodeName    string `json:"nodeName"`
	// Deadline: pods not finished by then fail with a timeout reason.
	Deadline metav1.Time            `json:"deadline"`
	Pods     []RestorePodAssignment `json:"pods"`
}

// VolumeRestoreResult is the outcome of one volume's data restore.
type VolumeRestoreResult struct {
	Name       string          `json:"name"`
	SnapshotID string          `json:"snapshotID,omitempty"`
	Files      int64           `json:"files,omitempty"`
	Bytes      int64           `json:"bytes,omitempty"`
	Duration   metav1.Duration `json:"duration,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// RestorePodResult is the status of one pod's restore.
type RestorePodResult struct {
	Namespace      string                `json:"namespace"`
	Name           string                `json:"name"`
	UID            string                `json:"uid,omitempty"`
	Node           string                `json:"node,omitempty"`
	Phase          RestorePodPhase       `json:"phase"`
	Reason         string                `json:"reason,omitempty"`
	Volumes        []VolumeRestoreResult `json:"volumes,omitempty"`
	Hooks          []HookResult          `json:"hooks,omitempty"`
	CompletionTime *metav1.Time          `json:"completionTime,omitempty"`
}

// NodeRestoreStatus is written by the node's agent only.
type NodeRestoreStatus struct {
	Pods []RestorePodResult `json:"pods,omitempty"`
	// Done is set once every pod is in a final phase.
	Done bool `json:"done,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Restore",type=string,JSONPath=`.spec.restoreName`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Done",type=boolean,JSONPath=`.status.done`

// NodeRestore assigns a Restore's pods on one node to that node's agent.
type NodeRestore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NodeRestoreSpec   `json:"spec,omitempty"`
	Status NodeRestoreStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// NodeRestoreList is a list of NodeRestores.
type NodeRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeRestore `json:"items"`
}
