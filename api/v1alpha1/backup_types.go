package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BackupPhase is the lifecycle phase of a Backup (Velero's names).
type BackupPhase string

const (
	BackupPhaseNew             BackupPhase = "New"
	BackupPhaseInProgress      BackupPhase = "InProgress"
	BackupPhaseCompleted       BackupPhase = "Completed"
	BackupPhasePartiallyFailed BackupPhase = "PartiallyFailed"
	BackupPhaseFailed          BackupPhase = "Failed"
)

// CaptureMode says whether volumes are captured to node-local staging first
// (short freeze, upload after thaw) or read live by the uploader.
type CaptureMode string

const (
	CaptureStaged CaptureMode = "Staged"
	CaptureDirect CaptureMode = "Direct"
)

// BackupSpec has Velero's field names where Velero has the field, so a
// velero.io/v1 Backup manifest works with only its apiVersion changed.
type BackupSpec struct {
	// IncludedNamespaces selects namespaces; empty or "*" means all.
	IncludedNamespaces []string `json:"includedNamespaces,omitempty"`
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`
	// LabelSelector selects pods.
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// DefaultVolumesToFsBackup backs up every volume of a selected pod
	// except those in backup.velero.io/backup-volumes-excludes; otherwise
	// only the volumes listed in backup.velero.io/backup-volumes.
	DefaultVolumesToFsBackup *bool `json:"defaultVolumesToFsBackup,omitempty"`
	// Hooks are spec hooks in Velero's shape.
	Hooks BackupHooks `json:"hooks,omitempty"`
	// TTL is how long the snapshots are kept.
	TTL metav1.Duration `json:"ttl,omitempty"`

	// The fields below are quiesce's own; Velero fields it does not act on
	// (storageLocation, snapshotVolumes, ...) are accepted and ignored.

	// MaxFreeze bounds each pod's freeze window: past it post-hooks run even
	// if the capture has not finished (the pod fails). Default 5m.
	MaxFreeze *metav1.Duration `json:"maxFreeze,omitempty"`
	// CaptureMode defaults to Staged.
	CaptureMode CaptureMode `json:"captureMode,omitempty"`
}

// BackupStatus is the record of a backup; `quiesce backup describe` reads it.
type BackupStatus struct {
	Phase               BackupPhase  `json:"phase,omitempty"`
	StartTimestamp      *metav1.Time `json:"startTimestamp,omitempty"`
	CompletionTimestamp *metav1.Time `json:"completionTimestamp,omitempty"`
	Expiration          *metav1.Time `json:"expiration,omitempty"`
	HooksAttempted      int          `json:"hooksAttempted,omitempty"`
	HooksFailed         int          `json:"hooksFailed,omitempty"`
	// Planned is set once the per-node assignments are all written; a
	// restarted coordinator resumes from them instead of planning again.
	Planned bool `json:"planned,omitempty"`
	// NodeBackupCount counts those assignments (a node with many pods has
	// several, each bounded in size).
	NodeBackupCount int `json:"nodeBackupCount,omitempty"`
	// PodCounts counts the selected pods by outcome, skipped ones included.
	// The status holds counts, not a list, so its size does not grow with
	// the backup: the per-pod results are in the NodeBackups while the
	// backup runs and in the repository once it ends (Report).
	PodCounts PodCounts `json:"podCounts,omitempty"`
	// FailedPods are the first failed pods (by namespace/name, at most
	// MaxFailedPods), in their compact form (no hook output).
	FailedPods []PodResult `json:"failedPods,omitempty"`
	// Report says where the full per-pod report is: "repository" when it is
	// stored with the backup's objects (quiesce backup describe --details
	// reads it there), empty while the backup runs or when it was not
	// stored.
	Report string `json:"report,omitempty"`
	// BackupHooks records the backup-level hooks (spec.hooks.backup), one
	// entry per hook from the moment it starts (Running) to its outcome, so
	// a restarted coordinator runs only what has not run. Until the post
	// hooks owed have run, the phase stays InProgress.
	BackupHooks []BackupHookResult `json:"backupHooks,omitempty"`
	// PhaseBeforePostHooks is the phase the backup reached when its pods
	// were final (Failed when a pre hook failed with onError Fail), before
	// its post hooks: what their when is evaluated against. Set only when
	// spec.hooks.backup has hooks.
	PhaseBeforePostHooks BackupPhase `json:"phaseBeforePostHooks,omitempty"`
	// Progress counts the Kubernetes objects stored in the repository with
	// the volume data (what a Restore recreates).
	Progress BackupProgress `json:"progress,omitempty"`
	// Errors and Warnings hold at most MaxMessages entries each; the last
	// one then says how many more the report has.
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Verification is the record of the last `quiesce backup verify`.
	Verification *BackupVerification `json:"verification,omitempty"`
}

// PodCounts counts a backup's pods by outcome, and the hooks of its pods.
type PodCounts struct {
	Total      int `json:"total,omitempty"`
	InProgress int `json:"inProgress,omitempty"`
	Completed  int `json:"completed,omitempty"`
	Failed     int `json:"failed,omitempty"`
	Skipped    int `json:"skipped,omitempty"`
	// HooksAttempted and HooksFailed count the pods' hooks (the Backup's
	// hooksAttempted and hooksFailed add the backup-level hooks).
	HooksAttempted int `json:"hooksAttempted,omitempty"`
	HooksFailed    int `json:"hooksFailed,omitempty"`
}

// ReportInRepository is BackupStatus.Report when the per-pod report is
// stored in the repository with the backup's objects.
const ReportInRepository = "repository"

// BackupHookState is where a backup-level hook stands.
type BackupHookState string

const (
	// BackupHookRunning is recorded before the hook is started: found by a
	// restarted coordinator, it means the hook was interrupted, and it is
	// run again (backup-level hooks run at least once).
	BackupHookRunning   BackupHookState = "Running"
	BackupHookSucceeded BackupHookState = "Succeeded"
	BackupHookFailed    BackupHookState = "Failed"
	// BackupHookSkipped: its when did not match the backup's outcome, or
	// an earlier hook of its phase failed with onError Fail.
	BackupHookSkipped BackupHookState = "Skipped"
)

// BackupHookResult is the record of one backup-level hook: the fields of
// a pod hook's result (phase "pre" or "post", exit code, duration, output
// excerpt, error), where it ran and where it stands.
type BackupHookResult struct {
	HookResult `json:",inline"`
	State      BackupHookState `json:"state"`
	// Pod is the namespace/name of the pod the hook ran in (the exec form's
	// selected pod, or the Job's last pod when it is known).
	Pod string `json:"pod,omitempty"`
	// Job is the namespace/name of the Job the hook ran as (job form).
	Job string `json:"job,omitempty"`
	// Reason says why a hook was skipped.
	Reason         string       `json:"reason,omitempty"`
	StartTimestamp *metav1.Time `json:"startTimestamp,omitempty"`
	// Attempts counts the starts; more than 1 when a coordinator was
	// stopped while the hook ran.
	Attempts int `json:"attempts,omitempty"`
}

// BackupProgress counts objects (Velero's names).
type BackupProgress struct {
	TotalItems    int `json:"totalItems,omitempty"`
	ItemsBackedUp int `json:"itemsBackedUp,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=qb
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Pods",type=integer,JSONPath=`.status.podCounts.total`
// +kubebuilder:printcolumn:name="Verified",type=string,JSONPath=`.status.verification.phase`
// +kubebuilder:printcolumn:name="Started",type=date,JSONPath=`.status.startTimestamp`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Backup is one backup of the selected pods' volumes, with their hooks.
type Backup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BackupSpec   `json:"spec,omitempty"`
	Status BackupStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BackupList is a list of Backups.
type BackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Backup `json:"items"`
}
