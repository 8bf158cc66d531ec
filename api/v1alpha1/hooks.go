package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The types in this file have Velero's shape and JSON names (velero.io/v1
// BackupHooks and RestoreHooks), so a Velero Backup, Restore or Schedule spec
// decodes into them unchanged. The hook package resolves them against pods.

// HookErrorMode says what a failing hook does to the rest of its phase:
// "Fail" or "Continue".
type HookErrorMode string

const (
	HookErrorModeFail     HookErrorMode = "Fail"
	HookErrorModeContinue HookErrorMode = "Continue"
)

// BackupHooks holds the hooks of a Backup spec.
// +kubebuilder:object:generate=false
type BackupHooks struct {
	Resources []BackupResourceHookSpec `json:"resources,omitempty"`
	// Backup (quiesce's own) holds hooks that run once per backup, each in
	// one selected pod: pre before any pod is frozen, post after every pod
	// is thawed and uploaded.
	Backup *BackupLevelHooks `json:"backup,omitempty"`
}

// BackupLevelHooks are the hooks of the Backup itself rather than of its
// pods (Velero issue #3542).
// +kubebuilder:object:generate=false
type BackupLevelHooks struct {
	// Pre runs in order before any pod is frozen; a failing hook with
	// onError Fail fails the Backup before it freezes anything.
	Pre []BackupLevelHook `json:"pre,omitempty"`
	// Post runs in order once every pod is final, whatever happened to the
	// backup (a restarted coordinator runs what was not run), gated by when.
	Post []BackupLevelHook `json:"post,omitempty"`
}

// BackupLevelHook is one hook of the Backup itself, in one of two forms:
// exec (Command, through the API server's pods/exec, in the first Running
// pod, by name, of Namespace that LabelSelector matches) or Job (a Job made
// from Job.Template, in Namespace). A hook sets exactly one form.
// +kubebuilder:object:generate=false
type BackupLevelHook struct {
	// Name is unique in its list; default "pre[i]" or "post[i]".
	Name string `json:"name,omitempty"`
	// Namespace is where the hook runs: the selected pod's namespace (exec)
	// or the Job's (job).
	Namespace string `json:"namespace"`
	// LabelSelector selects the pod of the exec form.
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// Container (exec form) defaults to the selected pod's first container.
	Container string `json:"container,omitempty"`
	// Command is the exec form's command.
	Command []string `json:"command,omitempty"`
	// Job runs the hook as a Job instead of an exec: for tools that no
	// application pod has (a CLI, an API call with its own credentials).
	Job *BackupLevelJob `json:"job,omitempty"`
	// Timeout defaults to 30s. A Job gets it as activeDeadlineSeconds, so
	// it counts from the Job's start, pod scheduling and image pull
	// included, and the Job is deleted (its pod killed) when it passes.
	Timeout metav1.Duration `json:"timeout,omitempty"`
	// OnError defaults to Fail: a failing pre hook fails the Backup before
	// any pod is frozen (the post hooks still run); a failing post hook
	// makes a Completed Backup PartiallyFailed and skips the post hooks
	// after it. Continue records the failure as a warning and goes on.
	OnError HookErrorMode `json:"onError,omitempty"`
	// When (post only) runs the hook Always (default), OnSuccess (the
	// Backup's pods all Completed) or OnFailure (otherwise).
	When string `json:"when,omitempty"`
}

// BackupLevelJob is the Job form of a backup-level hook: the hook succeeds
// when the Job completes and fails when it fails.
// +kubebuilder:object:generate=false
type BackupLevelJob struct {
	// Template is the Job's pod template; restartPolicy defaults to Never
	// (Always is invalid for a Job). Kept schemaless in the CRD: a pod
	// template's schema, twice (pre and post), would take the CRD past the
	// API server's object size limit; the coordinator checks it, the API
	// server validates the Job, and quiesce hooks lint reports unknown
	// fields at their path.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Template corev1.PodTemplateSpec `json:"template"`
	// BackoffLimit is the number of retries of the Job's pod (0 to 10);
	// default 0: the hook runs once, as the exec form does.
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
}

// BackupResourceHookSpec selects pods by namespace, resource and labels and
// lists the hooks to run in them before and after their capture.
// +kubebuilder:object:generate=false
type BackupResourceHookSpec struct {
	Name string `json:"name"`
	// IncludedNamespaces selects namespaces ("*" or empty: all).
	IncludedNamespaces []string `json:"includedNamespaces,omitempty"`
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`
	// IncludedResources: only pods run hooks, so it matters only whether
	// "pods" (or "pod", "po", "*", or empty) is included.
	IncludedResources []string              `json:"includedResources,omitempty"`
	ExcludedResources []string              `json:"excludedResources,omitempty"`
	LabelSelector     *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// OnePod (quiesce's own) runs this entry's hooks on one matching pod
	// only, the first by namespace/name, instead of on every matching pod:
	// e.g. the primary of a replicated database, picked by its label.
	OnePod    bool                 `json:"onePod,omitempty"`
	PreHooks  []BackupResourceHook `json:"pre,omitempty"`
	PostHooks []BackupResourceHook `json:"post,omitempty"`
}

// BackupResourceHook is one backup hook; exec is the only kind.
// +kubebuilder:object:generate=false
type BackupResourceHook struct {
	Exec *ExecHook `json:"exec"`
}

// ExecHook runs a command in a container of the pod.
// +kubebuilder:object:generate=false
type ExecHook struct {
	// Container defaults to the pod's first container.
	Container string   `json:"container,omitempty"`
	Command   []string `json:"command"`
	// OnError defaults to Fail (Velero's documented default).
	OnError HookErrorMode `json:"onError,omitempty"`
	// Timeout defaults to 30s.
	Timeout metav1.Duration `json:"timeout,omitempty"`
}

// RestoreHooks holds the hooks of a Restore spec.
// +kubebuilder:object:generate=false
type RestoreHooks struct {
	Resources []RestoreResourceHookSpec `json:"resources,omitempty"`
}

// RestoreResourceHookSpec selects restored pods and lists their hooks.
// +kubebuilder:object:generate=false
type RestoreResourceHookSpec struct {
	Name               string                `json:"name"`
	IncludedNamespaces []string              `json:"includedNamespaces,omitempty"`
	ExcludedNamespaces []string              `json:"excludedNamespaces,omitempty"`
	IncludedResources  []string              `json:"includedResources,omitempty"`
	ExcludedResources  []string              `json:"excludedResources,omitempty"`
	LabelSelector      *metav1.LabelSelector `json:"labelSelector,omitempty"`
	PostHooks          []RestoreResourceHook `json:"postHooks,omitempty"`
}

// RestoreResourceHook is an exec hook or an init-container hook.
// +kubebuilder:object:generate=false
type RestoreResourceHook struct {
	Exec *RestoreExecHook `json:"exec,omitempty"`
	Init *InitRestoreHook `json:"init,omitempty"`
}

// RestoreExecHook runs a command in a restored pod's container once it runs.
// +kubebuilder:object:generate=false
type RestoreExecHook struct {
	Container string   `json:"container,omitempty"`
	Command   []string `json:"command"`
	// OnError defaults to Continue for restore hooks.
	OnError HookErrorMode `json:"onError,omitempty"`
	// ExecTimeout defaults to 30s.
	ExecTimeout metav1.Duration `json:"execTimeout,omitempty"`
	// WaitTimeout bounds the wait for the container; zero waits without limit.
	WaitTimeout  metav1.Duration `json:"waitTimeout,omitempty"`
	WaitForReady *bool           `json:"waitForReady,omitempty"`
}

// InitRestoreHook adds init containers to a restored pod.
// +kubebuilder:object:generate=false
type InitRestoreHook struct {
	InitContainers []corev1.Container `json:"initContainers"`
	Timeout        metav1.Duration    `json:"timeout,omitempty"`
}
