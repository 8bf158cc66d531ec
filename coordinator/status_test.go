package coordinator

import (
	"reflect"
	"testing"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// A hook that fails with onError Continue leaves its pod Completed (its
// data is captured) and the Backup PartiallyFailed, as Velero's API says,
// with the hook named in the Backup's errors.
func TestAggregateContinuedHookFailureIsPartiallyFailed(t *testing.T) {
	nb := func(pods ...api.PodResult) api.NodeBackup {
		var n api.NodeBackup
		n.Spec.NodeName = "node-b"
		for _, p := range pods {
			n.Spec.Pods = append(n.Spec.Pods, api.PodAssignment{Namespace: p.Namespace, Name: p.Name, UID: p.UID})
		}
		n.Status.Pods = pods
		return n
	}
	clean := api.PodResult{Namespace: "demo", Name: "db-0", UID: "u1", Phase: api.PodCompleted,
		Hooks: []api.HookResult{{Name: "pre-annotation", Phase: "pre", Container: "db"}, {Name: "alert", Phase: "post", Container: "db", Skipped: true, ExitCode: 1},
			// a held hook: running (no exit code yet) when the capture began, released clean
			{Name: "hold", Phase: "pre", Container: "db", Held: true, ExitCode: -1}, {Name: "hold", Phase: "pre", Container: "db"}}}
	lenient := api.PodResult{Namespace: "demo", Name: "cache-0", UID: "u2", Phase: api.PodCompleted,
		Hooks: []api.HookResult{{Name: "pre-annotation", Phase: "pre", Container: "cache", ExitCode: 3,
			Error: `pod demo/cache-0: pre hook "pre-annotation" (annotation pre.hook.backup.velero.io/command) in container "cache": exit code 3: cache flush failed`}}}

	st, done := aggregate([]api.NodeBackup{nb(clean)})
	if !done || st.Phase != api.BackupPhaseCompleted || st.HooksFailed != 0 {
		t.Errorf("clean: done %v, phase %s, hooks failed %d: want Completed, 0", done, st.Phase, st.HooksFailed)
	}

	st, done = aggregate([]api.NodeBackup{nb(clean, lenient)})
	if !done || st.Phase != api.BackupPhasePartiallyFailed || st.HooksFailed != 1 {
		t.Errorf("continued failure: done %v, phase %s, hooks failed %d: want PartiallyFailed, 1", done, st.Phase, st.HooksFailed)
	}
	errs, warnings := st.Errors, st.Warnings
	want := []string{`pod demo/cache-0: pre hook "pre-annotation" (annotation pre.hook.backup.velero.io/command) in container "cache": exit code 3: cache flush failed; onError is Continue: the pod's volumes were backed up anyway, possibly without the application quiesced`}
	if !reflect.DeepEqual(errs, want) || len(warnings) != 0 {
		t.Errorf("errors:\n got  %q\n want %q\nwarnings %q", errs, want, warnings)
	}

	// A post-hook timing out without an error text is still named.
	lenient.Hooks = []api.HookResult{{Name: "notify", Phase: "post", Container: "cache", TimedOut: true}}
	st, _ = aggregate([]api.NodeBackup{nb(lenient)})
	errs = st.Errors
	want = []string{`pod demo/cache-0: post hook "notify" in container "cache" failed: timed out; onError is Continue: the pod's volumes were backed up`}
	if st.Phase != api.BackupPhasePartiallyFailed || !reflect.DeepEqual(errs, want) {
		t.Errorf("phase %s, errors %q: want PartiallyFailed, %q", st.Phase, errs, want)
	}

	// A failed pod still makes the backup Failed when no pod completed;
	// its hooks are in its reason, not repeated.
	failed := api.PodResult{Namespace: "demo", Name: "strict", UID: "u3", Phase: api.PodFailed, Reason: "pre-hook failed",
		Hooks: []api.HookResult{{Name: "pre-annotation", Phase: "pre", Container: "app", ExitCode: 7}}}
	st, _ = aggregate([]api.NodeBackup{nb(failed)})
	errs = st.Errors
	if st.Phase != api.BackupPhaseFailed || len(errs) != 1 {
		t.Errorf("phase %s, errors %q: want Failed with one error", st.Phase, errs)
	}
}

// aggregate is Aggregate of the NodeBackups' report.
func aggregate(nbs []api.NodeBackup) (api.BackupStatus, bool) {
	pods, done := api.BackupReport(nil, nbs)
	return Aggregate(api.BackupStatus{}, pods, done), done
}
