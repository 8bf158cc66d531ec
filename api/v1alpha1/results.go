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
	}
	return fmt.Sprintf("exit %d", h.ExitCode)
}

// Failed reports whether the hook ran and failed.
func (h HookResult) Failed() bool {
	return !h.Skipped && (h.TimedOut || h.Error != "" || h.ExitCode != 0)
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
