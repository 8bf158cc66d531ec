package agent

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func TestPodEvents(t *testing.T) {
	rec := record.NewFakeRecorder(20)
	podEvents(rec, "b1", api.PodResult{Namespace: "shop", Name: "db-0", Phase: api.PodFailed,
		Cause: api.CauseFreezeDeadline, Reason: "freeze deadline 30s passed before the capture finished", Freeze: &metav1.Duration{Duration: 30 * time.Second},
		Hooks: []api.HookResult{
			{Name: "flush", Phase: "pre", Container: "db", TimedOut: true, Duration: metav1.Duration{Duration: 10 * time.Second}},
			{Name: "ok", Phase: "post", Container: "db"},
			{Name: "skipped", Phase: "post", Skipped: true, ExitCode: 1},
		}})
	close(rec.Events)
	var got []string
	for e := range rec.Events {
		got = append(got, e)
	}
	want := []string{
		"Warning BackupHookTimedOut backup b1: pre-hook flush in container db timed out after 10s",
		"Normal BackupHookRan backup b1: post-hook ok in container db ran in 0s",
		"Warning ThawedByDeadline backup b1: freeze deadline 30s passed before the capture finished",
		"Warning VolumeBackupFailed backup b1: freeze deadline 30s passed before the capture finished",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// The Event follows the typed cause, whatever the reason's words: a capture
// failure whose message mentions the deadline is not a deadline thaw.
func TestPodEventsReadTheCauseNotTheText(t *testing.T) {
	rec := record.NewFakeRecorder(20)
	podEvents(rec, "b1", api.PodResult{Namespace: "shop", Name: "db-0", Phase: api.PodFailed,
		Cause: api.CauseCapture, Reason: "capture: copy stopped at the freeze deadline",
		Freeze: &metav1.Duration{Duration: 30 * time.Second}})
	close(rec.Events)
	for e := range rec.Events {
		if strings.Contains(e, "ThawedByDeadline") {
			t.Errorf("a capture failure was reported as a deadline thaw: %s", e)
		}
	}
}
