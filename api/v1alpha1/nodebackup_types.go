package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels on NodeBackups.
const (
	// LabelBackup holds the name of the NodeBackup's Backup.
	LabelBackup = "quiesce.dev/backup"
	// LabelNode holds the node whose agent acts on the NodeBackup.
	LabelNode = "quiesce.dev/node"
)

// PodPhase is the phase of one pod's backup on its node. The agent keeps the
// authoritative record in a node-local journal (so a thaw never waits on the
// API server) and mirrors it here.
type PodPhase string

const (
	PodPending   PodPhase = "Pending"
	PodFreezing  PodPhase = "Freezing"
	PodFrozen    PodPhase = "Frozen" // group member waiting for the group's capture gate
	PodCapturing PodPhase = "Capturing"
	PodCaptured  PodPhase = "Captured" // group member waiting for its thaw turn
	PodThawing   PodPhase = "Thawing"
	PodUploading PodPhase = "Uploading"
	PodCompleted PodPhase = "Completed"
	PodFailed    PodPhase = "Failed"
	PodSkipped   PodPhase = "Skipped"
)

// FailureCause classifies why a pod's backup failed, so that Events,
// metrics, alerts and the coordinator branch on a kind, never on the
// Reason's words (which are for people).
type FailureCause string

const (
	// CauseFreezeDeadline: the pod's maxFreeze passed while it was frozen;
	// it was thawed without a complete capture.
	CauseFreezeDeadline FailureCause = "FreezeDeadline"
	// CausePreHook: a pre-hook with onError Fail failed; nothing captured.
	CausePreHook FailureCause = "PreHookFailed"
	// CauseCapture: the local (or direct) capture of a volume failed.
	CauseCapture FailureCause = "CaptureFailed"
	// CausePostHook: a post-hook failed (the data may be captured).
	CausePostHook FailureCause = "PostHookFailed"
	// CauseUpload: the upload of a staged capture failed.
	CauseUpload FailureCause = "UploadFailed"
	// CauseGroupAborted: another member of the pod's consistency group failed.
	CauseGroupAborted FailureCause = "GroupAborted"
	// CauseAgentRestarted: the agent restarted while the pod was frozen; the
	// new process thawed it.
	CauseAgentRestarted FailureCause = "AgentRestarted"
	// CauseAgentStopped: the agent stopped before the pod's turn came.
	CauseAgentStopped FailureCause = "AgentStopped"
	// CauseJournal: the node journal could not record the freeze, so the pod
	// was not frozen.
	CauseJournal FailureCause = "JournalUnwritable"
	// CauseVolumesNotFound: a volume's directory was not found on the node.
	CauseVolumesNotFound FailureCause = "VolumesNotFound"
	// CauseVolumeNotMounted: a CSI or local volume's directory is not a
	// mount point in the agent's view (its mount propagation is missing, or
	// the volume is not mounted yet); the pod was not frozen, nothing was
	// captured.
	CauseVolumeNotMounted FailureCause = "VolumeNotMounted"
	// CauseInvalidSpec: the pod's hooks or annotations are invalid.
	CauseInvalidSpec FailureCause = "InvalidSpec"
	// CauseNoAgent: no agent runs on the pod's node.
	CauseNoAgent FailureCause = "NoAgent"
	// CauseBackupTimeout: the Backup's timeout passed before the pod's
	// agent reported it final.
	CauseBackupTimeout FailureCause = "BackupTimeout"
)

// ResolvedHook is a hook as the coordinator resolved it from annotations and
// spec hooks; the agent runs it as is.
type ResolvedHook struct {
	Name      string            `json:"name"`
	Source    string            `json:"source"` // e.g. annotation "pre.hook.backup.velero.io/command"
	Container string            `json:"container"`
	Command   []string          `json:"command"`
	Timeout   metav1.Duration   `json:"timeout"`
	OnError   HookErrorMode     `json:"onError"`
	Retries   int               `json:"retries,omitempty"`
	When      string            `json:"when,omitempty"` // post: Always, OnSuccess, OnFailure
	Mode      string            `json:"mode,omitempty"` // Exec or Hold
	Hold      *ResolvedHoldSpec `json:"hold,omitempty"`
}

// ResolvedHoldSpec configures a Hold-mode pre-hook.
type ResolvedHoldSpec struct {
	ReadyLine      string          `json:"readyLine,omitempty"`
	ReadyTimeout   metav1.Duration `json:"readyTimeout,omitempty"`
	ReleaseInput   string          `json:"releaseInput,omitempty"`
	ReleaseTimeout metav1.Duration `json:"releaseTimeout,omitempty"`
}

// VolumeAssignment names a pod volume to back up and its stable identity.
type VolumeAssignment struct {
	Name string `json:"name"`
	// PVC is the claim behind the volume, if any.
	PVC string `json:"pvc,omitempty"`
	// Source is the snapshot identity (namespace/workload-or-pvc/volume) that
	// keeps incremental backups working across pod reschedules.
	Source string `json:"source"`
	// HostPath is the volume's directory on the node. The agent resolves
	// it before freezing the pod; the coordinator leaves it empty.
	HostPath string `json:"hostPath,omitempty"`
}

// GroupRef places a pod in a consistency group: all its pods are frozen in
// ascending Order, captured once all are frozen, thawed in reverse order.
type GroupRef struct {
	Name  string `json:"name"`
	Order int    `json:"order"`
}

// PodAssignment is one pod the agent must back up.
type PodAssignment struct {
	Namespace string             `json:"namespace"`
	Name      string             `json:"name"`
	UID       string             `json:"uid"`
	PreHooks  []ResolvedHook     `json:"preHooks,omitempty"`
	PostHooks []ResolvedHook     `json:"postHooks,omitempty"`
	Volumes   []VolumeAssignment `json:"volumes,omitempty"`
	Group     *GroupRef          `json:"group,omitempty"`
	// MaxFreeze is the pod's freeze bound: the backup's, or the pod's
	// annotation backup.quiesce.dev/max-freeze. The plan always sets it.
	MaxFreeze *metav1.Duration `json:"maxFreeze,omitempty"`
	// Pause names the containers the agent pauses through the container
	// runtime after the pre-hooks and resumes before the post-hooks
	// (annotation backup.quiesce.dev/freeze: containers).
	// +optional
	Pause []string `json:"pause,omitempty"`
	// FreezeVolumes names the volumes whose filesystems the agent freezes
	// (FIFREEZE) after the pauses and thaws first (annotation
	// backup.quiesce.dev/freeze: filesystem).
	// +optional
	FreezeVolumes []string `json:"freezeVolumes,omitempty"`
}

// NodeBackupSpec is written by the coordinator and read by one node's agent.
// The coordinator's plan writes it complete (every default decided); the
// agent reads it and decides nothing again.
type NodeBackupSpec struct {
	BackupName string `json:"backupName"`
	NodeName   string `json:"nodeName"`
	// MaxFreeze is the backup's freeze bound; each pod carries its own.
	MaxFreeze   metav1.Duration `json:"maxFreeze"`
	CaptureMode CaptureMode     `json:"captureMode"`
	// Expiration is when the snapshots of this backup expire (TTL).
	Expiration *metav1.Time    `json:"expiration,omitempty"`
	Pods       []PodAssignment `json:"pods"`
	// Results are the final results of pods the plan left out (skipped,
	// invalid, on a node without an agent). A NodeBackup that holds them
	// has no node (no agent acts on it) and assigns no pods: it keeps them
	// out of the Backup's status, whose size is bounded.
	// +optional
	Results []PodResult `json:"results,omitempty"`
	// GroupGates release consistency-group steps across nodes; the
	// coordinator sets them from every NodeBackup's status.
	GroupGates []GroupGate `json:"groupGates,omitempty"`
}

// GroupGate says how far a consistency group may go.
type GroupGate struct {
	Group string `json:"group"`
	// FreezeUpTo: pods with Order <= FreezeUpTo may freeze.
	FreezeUpTo int `json:"freezeUpTo"`
	// Capture: every pod of the group is frozen; captures may start.
	Capture bool `json:"capture,omitempty"`
	// ThawDownTo: pods with Order >= ThawDownTo may thaw (every capture done).
	ThawDownTo *int `json:"thawDownTo,omitempty"`
	// Abort: a member failed before the group was captured; every member
	// thaws now (or never freezes) and fails with Reason.
	Abort  bool   `json:"abort,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// HookResult is the outcome of one hook run.
type HookResult struct {
	Name      string          `json:"name"`
	Phase     string          `json:"phase"` // pre or post
	Source    string          `json:"source,omitempty"`
	Container string          `json:"container"`
	ExitCode  int             `json:"exitCode"`
	Duration  metav1.Duration `json:"duration"`
	TimedOut  bool            `json:"timedOut,omitempty"`
	Skipped   bool            `json:"skipped,omitempty"`
	// Held: the hook was still running, holding the application, when this
	// record was taken (its exit code is not known yet); its release is
	// the next record of the same hook.
	Held  bool   `json:"held,omitempty"`
	Error string `json:"error,omitempty"`
	// Output is an excerpt of stdout and stderr.
	Output string `json:"output,omitempty"`
}

// VolumeResult is the outcome of one volume's capture and upload.
type VolumeResult struct {
	Name          string          `json:"name"`
	PVC           string          `json:"pvc,omitempty"`
	SnapshotID    string          `json:"snapshotID,omitempty"`
	Files         int64           `json:"files,omitempty"`
	Bytes         int64           `json:"bytes,omitempty"`
	UploadedBytes int64           `json:"uploadedBytes,omitempty"`
	Capture       metav1.Duration `json:"capture,omitempty"`
	Upload        metav1.Duration `json:"upload,omitempty"`
	Error         string          `json:"error,omitempty"`
}

// PodResult is the status of one pod's backup.
type PodResult struct {
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	UID       string   `json:"uid,omitempty"`
	Node      string   `json:"node,omitempty"`
	Phase     PodPhase `json:"phase"`
	// Cause classifies the first failure (empty when none); Reason says it
	// in words.
	Cause  FailureCause `json:"cause,omitempty"`
	Reason string       `json:"reason,omitempty"`
	// FreezeStart/FreezeEnd bound the freeze window: first pre-hook start to
	// last post-hook end.
	FreezeStart *metav1.Time     `json:"freezeStart,omitempty"`
	FreezeEnd   *metav1.Time     `json:"freezeEnd,omitempty"`
	Freeze      *metav1.Duration `json:"freeze,omitempty"`
	// ControlOverhead is the freeze window minus hook and capture time.
	ControlOverhead *metav1.Duration `json:"controlOverhead,omitempty"`
	Hooks           []HookResult     `json:"hooks,omitempty"`
	Volumes         []VolumeResult   `json:"volumes,omitempty"`
	CompletionTime  *metav1.Time     `json:"completionTime,omitempty"`
}

// NodeBackupStatus is written by the node's agent only. Its pods are in
// their compact form (PodResult.Compact): hook output is in the pod's log
// in the repository.
type NodeBackupStatus struct {
	Pods []PodResult `json:"pods,omitempty"`
	// Done is set once every pod is in a final phase.
	Done bool `json:"done,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Backup",type=string,JSONPath=`.spec.backupName`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Done",type=boolean,JSONPath=`.status.done`

// NodeBackup assigns a Backup's pods on one node to that node's agent. A
// node with many pods gets several NodeBackups (chunks), each bounded in
// size (spec and status), so none nears etcd's object size limit.
type NodeBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NodeBackupSpec   `json:"spec,omitempty"`
	Status NodeBackupStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// NodeBackupList is a list of NodeBackups.
type NodeBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeBackup `json:"items"`
}
