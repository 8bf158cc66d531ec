package v1alpha1

import "fmt"

// Outcome is a hook result in a few words, for describe and logs:
// "exit 0", "skipped", "timed out", "error: ...".
func (h HookResult) Outcome() string {
	switch {
	case h.Skipped:
		return "skipped"
	case h.TimedOut:
		return "timed out"
	case h.Error != "":
		return "error: " + h.Error
	case h.Held:
		return "held"
	}
	return fmt.Sprintf("exit %d", h.ExitCode)
}

// Failed reports whether the hook ran and failed. A held record has no
// exit code yet: whether the hook failed is its release record's to say.
func (h HookResult) Failed() bool {
	return !h.Skipped && (h.TimedOut || h.Error != "" || (!h.Held && h.ExitCode != 0))
}

// Final reports whether a Backup in phase p has ended.
func (p BackupPhase) Final() bool {
	return p == BackupPhaseCompleted || p == BackupPhasePartiallyFailed || p == BackupPhaseFailed
}

// Final reports whether a Restore in phase p has ended.
func (p RestorePhase) Final() bool {
	return p == RestorePhaseCompleted || p == RestorePhasePartiallyFailed || p == RestorePhaseFailed
}

// Final reports whether a restored pod in phase p has ended.
func (p RestorePodPhase) Final() bool {
	return p == RestorePodCompleted || p == RestorePodPartiallyFailed || p == RestorePodFailed
}
