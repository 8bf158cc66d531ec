package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VerificationPhase is where a backup's verification stands
// (`quiesce backup verify`): its pods restored into scratch namespaces,
// then checked.
type VerificationPhase string

const (
	VerificationVerifying VerificationPhase = "Verifying"
	VerificationPassed    VerificationPhase = "Passed"
	VerificationFailed    VerificationPhase = "Failed"
)

// Final reports whether a verification in phase p has ended.
func (p VerificationPhase) Final() bool {
	return p == VerificationPassed || p == VerificationFailed
}

// BackupVerification is the record of the last verification of a Backup:
// a Restore of it into scratch namespaces, then each restored pod's check
// hook (verify.hook.quiesce.dev/command) run through the API server.
type BackupVerification struct {
	Phase          VerificationPhase `json:"phase"`
	StartTime      *metav1.Time      `json:"startTime,omitempty"`
	CompletionTime *metav1.Time      `json:"completionTime,omitempty"`
	// Restore names the Restore that restored the pods (in the Backup's
	// namespace).
	Restore string `json:"restore,omitempty"`
	// NamespaceMapping is the backed-up namespace -> scratch namespace.
	NamespaceMapping map[string]string `json:"namespaceMapping,omitempty"`
	// Pods has one result per backed-up pod.
	Pods []PodVerification `json:"pods,omitempty"`
	// Reason says why a verification Failed.
	Reason string `json:"reason,omitempty"`
}

// PodVerification is one pod's verification: restored and Ready, then its
// check hook, if it declares one.
type PodVerification struct {
	// Namespace and Name are the backed-up pod's; RestoredNamespace is the
	// scratch namespace it was restored into.
	Namespace         string `json:"namespace"`
	Name              string `json:"name"`
	RestoredNamespace string `json:"restoredNamespace,omitempty"`
	Passed            bool   `json:"passed"`
	// Checked is false when the pod declares no check hook: it passes on
	// its restore and readiness alone, and Message says so.
	Checked   bool   `json:"checked,omitempty"`
	Container string `json:"container,omitempty"`
	// ExitCode is the check's exit status (-1 when it has none: it timed
	// out or could not be run).
	ExitCode int             `json:"exitCode"`
	Duration metav1.Duration `json:"duration,omitempty"`
	// Output is an excerpt (the last 512 bytes at most) of the check's
	// stdout and stderr.
	Output string `json:"output,omitempty"`
	// Error says why the pod failed: not restored, never Ready, check
	// timed out or exited non-zero, bad hook annotations.
	Error   string `json:"error,omitempty"`
	Message string `json:"message,omitempty"`
}
