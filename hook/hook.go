// Package hook is quiesce's hook model: it parses and validates, from a Pod
// and from Backup/Restore specs, the hooks Velero users write today (with
// Velero's documented semantics) and quiesce's own extensions. It is pure: no
// I/O, no clock.
//
// Entry points: BackupHooks and RestoreHooks resolve a pod's hooks (from
// annotations, which replace the spec hooks of their phase, and from
// Velero-shaped spec hooks); package hook/lint checks manifests with it.
// README.md lists every annotation key, the list form
// (pre.hook.backup.quiesce.dev/hooks), the precedence rules and where this
// package deliberately differs from Velero.
package hook

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Phase is when a hook runs.
type Phase string

const (
	PreBackup   Phase = "pre"          // before a pod's volumes are captured (freeze)
	PostBackup  Phase = "post"         // after a pod's capture has finished (thaw)
	PostRestore Phase = "post-restore" // in the restored container once it runs
	InitRestore Phase = "init-restore" // as an init container of the restored pod
	Verify      Phase = "verify"       // in the restored pod once Ready, by `quiesce backup verify`
)

// OnError says what a failing hook does to the rest of its phase.
type OnError string

const (
	// Fail stops the pod's remaining hooks of the phase and fails the pod.
	Fail OnError = "Fail"
	// Continue records the failure and goes on.
	Continue OnError = "Continue"
)

// When gates a post-backup hook on the outcome of the pod's capture.
type When string

const (
	Always    When = "Always"
	OnSuccess When = "OnSuccess"
	OnFailure When = "OnFailure"
)

// Mode says how a hook's process is run.
type Mode string

const (
	// Exec runs the command to completion (Velero's only mode).
	Exec Mode = "Exec"
	// Hold starts the command and keeps it running, stdin open, until the
	// post-backup phase releases it: for quiesce commands that only hold while
	// their process lives (psql's backup mode, FLUSH TABLES WITH READ LOCK).
	Hold Mode = "Hold"
)

// DefaultTimeout is Velero's documented default exec timeout.
const DefaultTimeout = 30 * time.Second

// Source says where a hook was declared, for status and error messages.
type Source struct {
	// Kind is "annotation" or "spec".
	Kind string `json:"kind"`
	// Ref is the annotation key, or the spec path such as
	// "spec.hooks.resources[0].pre[1]".
	Ref string `json:"ref"`
}

// HoldSpec configures a Hold-mode hook.
type HoldSpec struct {
	// ReadyLine is a line the process prints once the application is frozen;
	// empty means frozen as soon as the process has started.
	ReadyLine string `json:"readyLine,omitempty"`
	// ReadyTimeout bounds the wait for ReadyLine.
	ReadyTimeout time.Duration `json:"readyTimeout,omitempty"`
	// ReleaseInput is written to the process's stdin to release it; empty
	// means close stdin.
	ReleaseInput string `json:"releaseInput,omitempty"`
	// ReleaseTimeout bounds the wait for the process to exit after release,
	// after which its whole process tree is killed.
	ReleaseTimeout time.Duration `json:"releaseTimeout,omitempty"`
}

// Hook is one resolved exec hook, ready to run in a container.
type Hook struct {
	Name      string        `json:"name"`
	Phase     Phase         `json:"phase"`
	Source    Source        `json:"source"`
	Container string        `json:"container"`
	Command   []string      `json:"command"`
	Timeout   time.Duration `json:"timeout"`
	OnError   OnError       `json:"onError"`
	Retries   int           `json:"retries,omitempty"`
	When      When          `json:"when,omitempty"`
	Mode      Mode          `json:"mode,omitempty"`
	Hold      *HoldSpec     `json:"hold,omitempty"`

	// Restore exec hooks only.
	WaitTimeout  time.Duration `json:"waitTimeout,omitempty"`
	WaitForReady bool          `json:"waitForReady,omitempty"`
}

// InitHook is one init container a restore adds to a pod (Velero's init
// restore hook).
type InitHook struct {
	Name      string           `json:"name"`
	Source    Source           `json:"source"`
	Container corev1.Container `json:"container"`
	// Timeout bounds the init container's run; zero means no limit.
	Timeout time.Duration `json:"timeout,omitempty"`
}
