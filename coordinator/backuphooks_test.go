package coordinator

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/hook"
)

func levelHook(phase hook.Phase, name string, onError hook.OnError, when hook.When) hook.BackupLevelHook {
	return hook.BackupLevelHook{Hook: hook.Hook{Name: name, Phase: phase, Command: []string{"true"}, Timeout: time.Second,
		OnError: onError, When: when}, Namespace: "shop", Selector: labels.Everything()}
}

func hookRec(phase hook.Phase, name string, state api.BackupHookState) api.BackupHookResult {
	r := api.BackupHookResult{HookResult: api.HookResult{Name: name, Phase: string(phase)}, State: state, Pod: "shop/db-0", Attempts: 1}
	if state == api.BackupHookFailed {
		r.ExitCode = 1
	}
	if state == api.BackupHookSkipped {
		r.Skipped = true
	}
	return r
}

func TestNextBackupHook(t *testing.T) {
	pre := []hook.BackupLevelHook{levelHook(hook.PreBackup, "a", hook.Fail, ""), levelHook(hook.PreBackup, "b", hook.Fail, "")}
	lenient := []hook.BackupLevelHook{levelHook(hook.PreBackup, "a", hook.Continue, ""), levelHook(hook.PreBackup, "b", hook.Fail, "")}
	post := []hook.BackupLevelHook{levelHook(hook.PostBackup, "always", hook.Fail, hook.Always),
		levelHook(hook.PostBackup, "ok", hook.Continue, hook.OnSuccess), levelHook(hook.PostBackup, "alert", hook.Continue, hook.OnFailure)}
	done := func(names ...string) []api.BackupHookResult {
		var out []api.BackupHookResult
		for _, n := range names {
			out = append(out, hookRec(hook.PostBackup, n, api.BackupHookSucceeded))
		}
		return out
	}
	tests := []struct {
		name    string
		hooks   []hook.BackupLevelHook
		recs    []api.BackupHookResult
		outcome api.BackupPhase
		want    HookAction
		hook    string
		reason  string
	}{
		{name: "nothing ran: the first runs", hooks: pre, want: HookRun, hook: "a"},
		{name: "in order", hooks: pre, recs: []api.BackupHookResult{hookRec(hook.PreBackup, "a", api.BackupHookSucceeded)}, want: HookRun, hook: "b"},
		{name: "interrupted (Running): runs again", hooks: pre, recs: []api.BackupHookResult{hookRec(hook.PreBackup, "a", api.BackupHookRunning)}, want: HookRun, hook: "a"},
		{name: "Fail stops the phase", hooks: pre, recs: []api.BackupHookResult{hookRec(hook.PreBackup, "a", api.BackupHookFailed)},
			want: HookSkip, hook: "b", reason: "pre-hook a failed with onError Fail"},
		{name: "Continue goes on", hooks: lenient, recs: []api.BackupHookResult{hookRec(hook.PreBackup, "a", api.BackupHookFailed)}, want: HookRun, hook: "b"},
		{name: "all ended", hooks: pre, recs: []api.BackupHookResult{hookRec(hook.PreBackup, "a", api.BackupHookFailed), hookRec(hook.PreBackup, "b", api.BackupHookSkipped)}, want: HooksDone},
		{name: "a pre record does not count for post", hooks: post, recs: []api.BackupHookResult{hookRec(hook.PreBackup, "always", api.BackupHookSucceeded)},
			outcome: api.BackupPhaseCompleted, want: HookRun, hook: "always"},
		{name: "OnSuccess after success", hooks: post, recs: done("always"), outcome: api.BackupPhaseCompleted, want: HookRun, hook: "ok"},
		{name: "OnSuccess after failure: skipped", hooks: post, recs: done("always"), outcome: api.BackupPhasePartiallyFailed,
			want: HookSkip, hook: "ok", reason: "when OnSuccess, and the backup is PartiallyFailed"},
		{name: "OnFailure after success: skipped", hooks: post, recs: done("always", "ok"), outcome: api.BackupPhaseCompleted,
			want: HookSkip, hook: "alert", reason: "when OnFailure, and the backup is Completed"},
		{name: "OnFailure after a failed pre hook", hooks: post, recs: append(done("always"), hookRec(hook.PostBackup, "ok", api.BackupHookSkipped)),
			outcome: api.BackupPhaseFailed, want: HookRun, hook: "alert"},
		{name: "Always runs whatever the outcome", hooks: post, outcome: api.BackupPhaseFailed, want: HookRun, hook: "always"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NextBackupHook(tt.hooks, tt.recs, tt.outcome)
			if got.Action != tt.want || got.Hook.Name != tt.hook || got.Reason != tt.reason {
				t.Errorf("step = %v %q %q, want %v %q %q", got.Action, got.Hook.Name, got.Reason, tt.want, tt.hook, tt.reason)
			}
		})
	}
}

// The Backup is final only once its post hooks have an outcome; until then
// it stays InProgress with the pods' phase kept for their when.
func TestApplyBackupHooks(t *testing.T) {
	pre := []hook.BackupLevelHook{levelHook(hook.PreBackup, "announce", hook.Continue, "")}
	post := []hook.BackupLevelHook{levelHook(hook.PostBackup, "report", hook.Fail, hook.Always)}
	now := metav1.Now()
	podsFinal := func(recs ...api.BackupHookResult) api.BackupStatus {
		return api.BackupStatus{Phase: api.BackupPhaseCompleted, CompletionTimestamp: &now, BackupHooks: recs,
			PodCounts: api.PodCounts{Total: 1, Completed: 1, HooksAttempted: 1}, // db-0, its pre-annotation hook
			Errors:    []string{"pod error"}}
	}

	st := podsFinal(hookRec(hook.PreBackup, "announce", api.BackupHookFailed))
	ApplyBackupHooks(pre, post, &st)
	if st.Phase != api.BackupPhaseInProgress || st.CompletionTimestamp != nil || st.PhaseBeforePostHooks != api.BackupPhaseCompleted {
		t.Errorf("post owed: phase %s completion %v before %s, want InProgress, none, Completed", st.Phase, st.CompletionTimestamp, st.PhaseBeforePostHooks)
	}
	if st.HooksAttempted != 2 || st.HooksFailed != 1 {
		t.Errorf("hooks %d/%d, want 2 attempted (pod + backup-level), 1 failed", st.HooksAttempted, st.HooksFailed)
	}
	wantWarning := "backup-level pre-hook announce in pod shop/db-0: exit 1"
	if len(st.Warnings) != 1 || st.Warnings[0] != wantWarning || len(st.Errors) != 1 {
		t.Errorf("warnings %q errors %q: a Continue hook's failure is a warning", st.Warnings, st.Errors)
	}
	again := st
	again.Warnings = append([]string(nil), st.Warnings...)
	ApplyBackupHooks(pre, post, &again)
	if len(again.Warnings) != 1 || again.HooksAttempted != 2 {
		t.Errorf("applied twice: warnings %q, attempted %d", again.Warnings, again.HooksAttempted)
	}

	// The post hook failed with Fail: the data is stored, so PartiallyFailed.
	st.BackupHooks = append(st.BackupHooks, hookRec(hook.PostBackup, "report", api.BackupHookFailed))
	ApplyBackupHooks(pre, post, &st)
	if st.Phase != api.BackupPhasePartiallyFailed || !strings.Contains(strings.Join(st.Errors, "\n"), "backup-level post-hook report") {
		t.Errorf("phase %s errors %q, want PartiallyFailed with the post-hook's error", st.Phase, st.Errors)
	}

	// Succeeded: the pods' phase.
	st = podsFinal(hookRec(hook.PreBackup, "announce", api.BackupHookSucceeded), hookRec(hook.PostBackup, "report", api.BackupHookSucceeded))
	ApplyBackupHooks(pre, post, &st)
	if st.Phase != api.BackupPhaseCompleted || st.CompletionTimestamp == nil {
		t.Errorf("phase %s completion %v", st.Phase, st.CompletionTimestamp)
	}

	// Pods not final yet: only counts and messages.
	st = api.BackupStatus{Phase: api.BackupPhaseInProgress, BackupHooks: []api.BackupHookResult{hookRec(hook.PreBackup, "announce", api.BackupHookSucceeded)}}
	ApplyBackupHooks(pre, post, &st)
	if st.Phase != api.BackupPhaseInProgress || st.PhaseBeforePostHooks != "" || st.HooksAttempted != 1 {
		t.Errorf("in progress: %+v", st)
	}

	// No backup-level hooks: untouched.
	st = podsFinal()
	ApplyBackupHooks(nil, nil, &st)
	if st.Phase != api.BackupPhaseCompleted || st.PhaseBeforePostHooks != "" || st.HooksAttempted != 0 {
		t.Errorf("no hooks: %+v", st)
	}
}
