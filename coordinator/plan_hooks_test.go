package coordinator

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// A pod whose annotation hooks replace the Backup's spec hooks runs its
// annotation hooks, as in Velero, even when the replaced spec hook names a
// container the pod does not have.
func TestPlanReplacedSpecHookDoesNotFailThePod(t *testing.T) {
	pod := runningPod("shop", "db-0", "node-a", map[string]string{
		AnnBackupVolumes:                     "data",
		"pre.hook.backup.velero.io/command":  `["/bin/sync"]`,
		"post.hook.backup.velero.io/command": `["/bin/true"]`,
	}, nil)
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1"}, Spec: api.BackupSpec{
		Hooks: api.BackupHooks{Resources: []api.BackupResourceHookSpec{{
			Name:     "web",
			PreHooks: []api.BackupResourceHook{{Exec: &api.ExecHook{Container: "web", Command: []string{"/app/flush"}}}},
		}}},
	}}
	plan, err := BuildPlan(b, []corev1.Pod{pod}, map[string]bool{"node-a": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Results) != 0 {
		t.Fatalf("results = %+v: want the pod planned, not failed", plan.Results)
	}
	as := plan.Nodes["node-a"].Pods
	if len(as) != 1 || len(as[0].PreHooks) != 1 || as[0].PreHooks[0].Name != "pre-annotation" || as[0].PreHooks[0].Container != "app" {
		t.Errorf("node-a = %+v: want db-0 with its annotation pre-hook", as)
	}
}

// A typo under backup.quiesce.dev/ fails the pod with the key and the fix,
// instead of backing it up outside its consistency group.
func TestPlanSettingsTypoFailsThePod(t *testing.T) {
	pod := runningPod("shop", "db-0", "node-a", map[string]string{
		AnnBackupVolumes: "data", "backup.quiesce.dev/grup": "shop", AnnMaxFreeze: "300",
	}, nil)
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1"}}
	plan, err := BuildPlan(b, []corev1.Pod{pod}, map[string]bool{"node-a": true})
	if err != nil {
		t.Fatal(err)
	}
	want := `2 problems: pod shop/db-0: annotation "backup.quiesce.dev/grup"="shop": unknown annotation key (did you mean "backup.quiesce.dev/group"?); ` +
		`pod shop/db-0: annotation "backup.quiesce.dev/max-freeze"="300": not a duration (use e.g. "300s")`
	if len(plan.Results) != 1 || plan.Results[0].Phase != api.PodFailed || plan.Results[0].Reason != want {
		t.Errorf("results = %+v\nwant the pod failed with %q", plan.Results, want)
	}
	if len(plan.Nodes["node-a"].Pods) != 0 {
		t.Errorf("node-a = %+v: want nothing of the pod run", plan.Nodes["node-a"])
	}
}
