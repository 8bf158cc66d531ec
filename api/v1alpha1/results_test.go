package v1alpha1

import "testing"

func TestFinalPhases(t *testing.T) {
	for p, want := range map[BackupPhase]bool{"": false, BackupPhaseNew: false, BackupPhaseInProgress: false,
		BackupPhaseCompleted: true, BackupPhasePartiallyFailed: true, BackupPhaseFailed: true} {
		if p.Final() != want {
			t.Errorf("BackupPhase(%q).Final() = %v", p, !want)
		}
	}
	for p, want := range map[RestorePhase]bool{"": false, RestorePhaseNew: false, RestorePhaseInProgress: false,
		RestorePhaseCompleted: true, RestorePhasePartiallyFailed: true, RestorePhaseFailed: true} {
		if p.Final() != want {
			t.Errorf("RestorePhase(%q).Final() = %v", p, !want)
		}
	}
	for p, want := range map[RestorePodPhase]bool{RestorePodPending: false, RestorePodRestoringVolumes: false,
		RestorePodWaitingContainer: false, RestorePodRunningHooks: false,
		RestorePodCompleted: true, RestorePodPartiallyFailed: true, RestorePodFailed: true} {
		if p.Final() != want {
			t.Errorf("RestorePodPhase(%q).Final() = %v", p, !want)
		}
	}
}
