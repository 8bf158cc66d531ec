package coordinator

import (
	"fmt"
	"sort"
	"strings"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Aggregate folds the pods the plan left out and the agents' NodeBackup
// reports into the Backup's status: per-pod results, hook counts, and, once
// every pod is final, the Backup's phase. It does not set timestamps.
func Aggregate(st api.BackupStatus, planned []api.PodResult, nodeBackups []api.NodeBackup) (api.BackupStatus, bool) {
	var pods []api.PodResult
	pods = append(pods, planned...)
	done := true
	for _, nb := range nodeBackups {
		reported := map[string]api.PodResult{}
		for _, p := range nb.Status.Pods {
			reported[p.UID] = p
		}
		for _, a := range nb.Spec.Pods {
			p, ok := reported[a.UID]
			if !ok {
				p = api.PodResult{Namespace: a.Namespace, Name: a.Name, UID: a.UID, Phase: api.PodPending}
			}
			p.Node = nb.Spec.NodeName
			if !final(p.Phase) {
				done = false
			}
			pods = append(pods, p)
		}
	}
	sort.SliceStable(pods, func(i, j int) bool {
		return pods[i].Namespace+"/"+pods[i].Name < pods[j].Namespace+"/"+pods[j].Name
	})
	st.Pods = pods
	st.HooksAttempted, st.HooksFailed = 0, 0
	for _, p := range pods {
		for _, h := range p.Hooks {
			if h.Skipped {
				continue
			}
			st.HooksAttempted++
			if h.Failed() {
				st.HooksFailed++
			}
		}
	}
	if done {
		st.Phase = finalPhase(pods)
	} else {
		st.Phase = api.BackupPhaseInProgress
	}
	return st, done
}

func final(p api.PodPhase) bool {
	return p == api.PodCompleted || p == api.PodFailed || p == api.PodSkipped
}

// finalPhase: Completed when no pod failed; Failed when pods were attempted
// and none completed; PartiallyFailed otherwise. Skipped pods (not Running)
// are warnings, as in Velero.
func finalPhase(pods []api.PodResult) api.BackupPhase {
	var completed, failed int
	for _, p := range pods {
		switch p.Phase {
		case api.PodCompleted:
			completed++
		case api.PodFailed:
			failed++
		}
	}
	switch {
	case failed == 0:
		return api.BackupPhaseCompleted
	case completed == 0:
		return api.BackupPhaseFailed
	}
	return api.BackupPhasePartiallyFailed
}

// messages derives the Backup's errors and warnings from its pods.
func messages(pods []api.PodResult) (errs, warnings []string) {
	for _, p := range pods {
		prefix := fmt.Sprintf("pod %s/%s: ", p.Namespace, p.Name)
		switch p.Phase {
		case api.PodFailed:
			errs = append(errs, prefix+strings.TrimPrefix(p.Reason, prefix))
		case api.PodSkipped:
			warnings = append(warnings, prefix+"skipped: "+strings.TrimPrefix(p.Reason, prefix))
		}
	}
	return errs, warnings
}
