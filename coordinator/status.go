package coordinator

import (
	"fmt"
	"strings"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Aggregate folds a backup's report (api.BackupReport) into its status: pod and
// hook counts, the first failed pods, errors and warnings (all bounded,
// whatever the number of pods), and, once every pod is final, the phase.
// It does not set timestamps.
func Aggregate(st api.BackupStatus, pods []api.PodResult, done bool) api.BackupStatus {
	c := api.PodCounts{Total: len(pods)}
	st.FailedPods = nil
	for _, p := range pods {
		switch p.Phase {
		case api.PodCompleted:
			c.Completed++
		case api.PodFailed:
			c.Failed++
			if len(st.FailedPods) < api.MaxFailedPods {
				st.FailedPods = append(st.FailedPods, p.Compact())
			}
		case api.PodSkipped:
			c.Skipped++
		default:
			c.InProgress++
		}
		for _, h := range p.Hooks {
			if h.Skipped {
				continue
			}
			c.HooksAttempted++
			if h.Failed() {
				c.HooksFailed++
			}
		}
	}
	st.PodCounts = c
	st.HooksAttempted, st.HooksFailed = c.HooksAttempted, c.HooksFailed
	errs, warnings := messages(pods)
	st.Errors, st.Warnings = api.BoundMessages(errs, "errors"), api.BoundMessages(warnings, "warnings")
	if done {
		st.Phase = finalPhase(pods)
	} else {
		st.Phase = api.BackupPhaseInProgress
	}
	return st
}

func final(p api.PodPhase) bool {
	return p == api.PodCompleted || p == api.PodFailed || p == api.PodSkipped
}

// finalPhase: Completed when no pod failed and no hook failed; Failed when
// pods were attempted and none completed; PartiallyFailed otherwise. A pod
// that completed although one of its hooks failed (onError Continue) makes
// the backup PartiallyFailed, as Velero's API says it should and as Velero
// does: the pod's data is captured, but the application may not have been
// quiesced. Skipped pods (not Running) are warnings, as in Velero.
func finalPhase(pods []api.PodResult) api.BackupPhase {
	var completed, failed, continued int
	for _, p := range pods {
		switch p.Phase {
		case api.PodCompleted:
			completed++
			if len(continuedFailures(p)) > 0 {
				continued++
			}
		case api.PodFailed:
			failed++
		}
	}
	switch {
	case failed == 0 && continued == 0:
		return api.BackupPhaseCompleted
	case completed == 0:
		return api.BackupPhaseFailed
	}
	return api.BackupPhasePartiallyFailed
}

// continuedFailures are the hooks of a completed pod that failed: the
// agent fails a pod on a failing hook with onError Fail, so these are the
// ones with onError Continue.
func continuedFailures(p api.PodResult) []api.HookResult {
	if p.Phase != api.PodCompleted {
		return nil
	}
	var out []api.HookResult
	for _, h := range p.Hooks {
		if h.Failed() {
			out = append(out, h)
		}
	}
	return out
}

// messages derives the Backup's errors and warnings from its pods: a failed
// pod's reason, each hook that failed in a completed pod (onError Continue),
// a skipped pod's reason.
func messages(pods []api.PodResult) (errs, warnings []string) {
	for _, p := range pods {
		prefix := fmt.Sprintf("pod %s/%s: ", p.Namespace, p.Name)
		switch p.Phase {
		case api.PodFailed:
			errs = append(errs, prefix+strings.TrimPrefix(p.Reason, prefix))
		case api.PodSkipped:
			warnings = append(warnings, prefix+"skipped: "+strings.TrimPrefix(p.Reason, prefix))
		}
		for _, h := range continuedFailures(p) {
			after := "the pod's volumes were backed up anyway, possibly without the application quiesced"
			if h.Phase == "post" {
				after = "the pod's volumes were backed up"
			}
			errs = append(errs, prefix+strings.TrimPrefix(hookFailure(h), prefix)+"; onError is Continue: "+after)
		}
	}
	return errs, warnings
}

// hookFailure says which hook failed and how. The agent's error already
// names the pod, the hook, its source and its container.
func hookFailure(h api.HookResult) string {
	if h.Error != "" {
		return h.Error
	}
	return fmt.Sprintf("%s hook %q in container %q failed: %s", h.Phase, h.Name, h.Container, h.Outcome())
}
