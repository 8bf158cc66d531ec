package coordinator

import (
	"fmt"
	"slices"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/hook"
)

// Backup-level hooks (spec.hooks.backup): this file decides, from the
// Backup's status alone, which of them run now and what they do to the
// Backup's phase; backuphooks_run.go carries the decisions out. The status
// is the record (status.backupHooks), so a coordinator restarted at any
// point runs what was not run and nothing that ended.

// HookAction is what to do next about one phase's backup-level hooks.
type HookAction int

const (
	// HooksDone: every hook of the phase has an outcome.
	HooksDone HookAction = iota
	// HookRun: run Hook (again when its record says Running: a coordinator
	// stopped while it ran, so backup-level hooks run at least once).
	HookRun
	// HookSkip: record Hook as skipped, with Reason.
	HookSkip
)

// HookStep is the next step of one phase's backup-level hooks.
type HookStep struct {
	Action HookAction
	Hook   hook.BackupLevelHook
	Reason string
}

// NextBackupHook returns the next step for hooks, one phase's in spec order,
// given their records. outcome is the backup's phase before its post hooks
// (status.phaseBeforePostHooks), which post hooks' when is matched against;
// pre hooks ignore it. After a hook that failed with onError Fail, the
// rest of its phase is skipped.
func NextBackupHook(hooks []hook.BackupLevelHook, recs []api.BackupHookResult, outcome api.BackupPhase) HookStep {
	var failed string
	for _, h := range hooks {
		r := findHookRecord(recs, h)
		if r != nil && r.State != api.BackupHookRunning {
			if r.State == api.BackupHookFailed && h.OnError == hook.Fail && failed == "" {
				failed = h.Name
			}
			continue
		}
		switch {
		case failed != "":
			return HookStep{Action: HookSkip, Hook: h, Reason: fmt.Sprintf("%s-hook %s failed with onError Fail", h.Phase, failed)}
		case h.Phase == hook.PostBackup && !whenMatches(h.When, outcome):
			return HookStep{Action: HookSkip, Hook: h, Reason: fmt.Sprintf("when %s, and the backup is %s", h.When, outcome)}
		}
		return HookStep{Action: HookRun, Hook: h}
	}
	return HookStep{Action: HooksDone}
}

// whenMatches: OnSuccess is a backup whose pods all completed; OnFailure
// any other outcome (PartiallyFailed, Failed).
func whenMatches(w hook.When, outcome api.BackupPhase) bool {
	switch w {
	case hook.OnSuccess:
		return outcome == api.BackupPhaseCompleted
	case hook.OnFailure:
		return outcome != api.BackupPhaseCompleted
	}
	return true
}

func findHookRecord(recs []api.BackupHookResult, h hook.BackupLevelHook) *api.BackupHookResult {
	i := slices.IndexFunc(recs, func(r api.BackupHookResult) bool { return r.Phase == string(h.Phase) && r.Name == h.Name })
	if i < 0 {
		return nil
	}
	return &recs[i]
}

// failedWithFail returns the first hook of hooks whose record says it
// failed and whose onError is Fail.
func failedWithFail(hooks []hook.BackupLevelHook, recs []api.BackupHookResult) (*api.BackupHookResult, bool) {
	for _, h := range hooks {
		if r := findHookRecord(recs, h); r != nil && r.State == api.BackupHookFailed && h.OnError == hook.Fail {
			return r, true
		}
	}
	return nil, false
}

// postHooksOwed reports whether a post hook has no outcome yet.
func postHooksOwed(post []hook.BackupLevelHook, recs []api.BackupHookResult) bool {
	for _, h := range post {
		if r := findHookRecord(recs, h); r == nil || r.State == api.BackupHookRunning {
			return true
		}
	}
	return false
}

// ApplyBackupHooks folds the backup-level hooks' records into st, which
// Aggregate (and the objects' recording) just wrote: their counts, their
// failures as errors (onError Fail) or warnings (Continue), and the phase.
// Once the pods are final (st.Phase final), that phase is kept as
// PhaseBeforePostHooks and, while post hooks are owed, the Backup stays
// InProgress with no completion time: it is final only once they ran. A
// post hook failing with onError Fail makes a Completed backup
// PartiallyFailed (its data is stored). Without backup-level hooks, st is
// left as it is.
func ApplyBackupHooks(pre, post []hook.BackupLevelHook, st *api.BackupStatus) {
	if len(pre) == 0 && len(post) == 0 {
		return
	}
	countHooks(st)
	recs := st.BackupHooks
	for _, hooks := range [][]hook.BackupLevelHook{pre, post} {
		for _, h := range hooks {
			r := findHookRecord(recs, h)
			if r == nil || r.State != api.BackupHookFailed {
				continue
			}
			msg := fmt.Sprintf("backup-level %s-hook %s %s: %s", h.Phase, h.Name, hookPlace(*r), r.Outcome())
			if h.OnError == hook.Fail {
				st.Errors = appendMissing(st.Errors, msg)
			} else {
				st.Warnings = appendMissing(st.Warnings, msg)
			}
		}
	}
	if st.Phase.Final() {
		st.PhaseBeforePostHooks = st.Phase
	}
	outcome := st.PhaseBeforePostHooks
	if outcome == "" {
		return // the pods are not final yet
	}
	if postHooksOwed(post, recs) {
		st.Phase, st.CompletionTimestamp = api.BackupPhaseInProgress, nil
		return
	}
	st.Phase = outcome
	if _, failed := failedWithFail(post, recs); failed && outcome == api.BackupPhaseCompleted {
		st.Phase = api.BackupPhasePartiallyFailed
	}
}

// countHooks counts the pods' hooks (as Aggregate does) and the
// backup-level hooks that ran.
func countHooks(st *api.BackupStatus) {
	st.HooksAttempted, st.HooksFailed = st.PodCounts.HooksAttempted, st.PodCounts.HooksFailed
	count := func(h api.HookResult) {
		if h.Skipped {
			return
		}
		st.HooksAttempted++
		if h.Failed() {
			st.HooksFailed++
		}
	}
	for _, r := range st.BackupHooks {
		if r.State == api.BackupHookSucceeded || r.State == api.BackupHookFailed {
			count(r.HookResult)
		}
	}
}

func appendMissing(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// hookPlace says where a backup-level hook ran: "in pod NS/NAME" (exec
// form) or "as job NS/NAME" (job form).
func hookPlace(r api.BackupHookResult) string {
	if r.Job != "" {
		return "as job " + r.Job
	}
	return "in pod " + orDash(r.Pod)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// setHookRecord replaces the record of r's hook (by phase and name) or
// appends it.
func setHookRecord(recs []api.BackupHookResult, r api.BackupHookResult) []api.BackupHookResult {
	i := slices.IndexFunc(recs, func(x api.BackupHookResult) bool { return x.Phase == r.Phase && x.Name == r.Name })
	if i < 0 {
		return append(recs, r)
	}
	recs[i] = r
	return recs
}
