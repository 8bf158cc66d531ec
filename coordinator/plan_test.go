package coordinator

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func runningPod(ns, name, node string, ann, lbl map[string]string) corev1.Pod {
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Annotations: ann, Labels: lbl},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app"}, {Name: "sidecar"}},
			Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func TestBuildPlan(t *testing.T) {
	yes := true
	ctrl := true
	deployPod := runningPod("shop", "web-7d9f-abcde", "node-b", map[string]string{AnnBackupVolumes: "data"}, map[string]string{"pod-template-hash": "7d9f", "app": "web"})
	deployPod.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-7d9f", Controller: &ctrl}}
	pods := []corev1.Pod{
		runningPod("shop", "db-0", "node-a", map[string]string{
			AnnBackupVolumes:                       "data",
			"pre.hook.backup.velero.io/command":    `["/bin/sh","-c","sync"]`,
			"post.hook.backup.velero.io/command":   `["/bin/true"]`,
			"post.hook.backup.velero.io/container": "sidecar",
			AnnGroup:                               "shop", AnnOrder: "2", AnnMaxFreeze: "90s",
		}, nil),
		deployPod,
		runningPod("shop", "hooks-only", "node-a", map[string]string{"pre.hook.backup.velero.io/command": "sync"}, nil),
		runningPod("shop", "not-opted-in", "node-a", nil, nil),
		runningPod("shop", "bad-hook", "node-a", map[string]string{"pre.hook.backup.velero.io/timeout": "300", "pre.hook.backup.velero.io/command": "sync"}, nil),
		runningPod("shop", "no-agent", "node-c", map[string]string{AnnBackupVolumes: "data"}, nil),
		runningPod("other", "elsewhere", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil),
		runningPod("shop", "bad-order", "node-a", map[string]string{AnnBackupVolumes: "data", AnnGroup: "g", AnnOrder: "first"}, nil),
	}
	pending := runningPod("shop", "pending", "node-a", map[string]string{AnnBackupVolumes: "data"}, nil)
	pending.Status.Phase = corev1.PodPending
	pods = append(pods, pending)

	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1"}, Spec: api.BackupSpec{
		IncludedNamespaces: []string{"shop"},
		MaxFreeze:          &metav1.Duration{Duration: time.Minute},
	}}
	plan, err := BuildPlan(b, pods, map[string]bool{"node-a": true, "node-b": true})
	if err != nil {
		t.Fatal(err)
	}
	names := func(as []api.PodAssignment) (n []string) {
		for _, a := range as {
			n = append(n, a.Name)
		}
		return n
	}
	if got := strings.Join(names(plan.Nodes["node-a"].Pods), ","); got != "db-0,hooks-only" {
		t.Errorf("node-a pods = %s, want db-0,hooks-only", got)
	}
	if got := strings.Join(names(plan.Nodes["node-b"].Pods), ","); got != "web-7d9f-abcde" {
		t.Errorf("node-b pods = %s", got)
	}
	db := plan.Nodes["node-a"].Pods[0]
	if db.Group == nil || db.Group.Name != "shop" || db.Group.Order != 2 {
		t.Errorf("db-0 group = %+v", db.Group)
	}
	if db.MaxFreeze == nil || db.MaxFreeze.Duration != 90*time.Second {
		t.Errorf("db-0 max freeze = %v, want 90s from its annotation", db.MaxFreeze)
	}
	if len(db.PreHooks) != 1 || db.PreHooks[0].Container != "app" || db.PreHooks[0].Timeout.Duration != 30*time.Second || db.PreHooks[0].OnError != api.HookErrorModeFail {
		t.Errorf("db-0 pre-hooks = %+v, want Velero defaults (first container, 30s, Fail)", db.PreHooks)
	}
	if len(db.PostHooks) != 1 || db.PostHooks[0].Container != "sidecar" {
		t.Errorf("db-0 post-hooks = %+v", db.PostHooks)
	}
	if got := db.Volumes[0].Source; got != "shop/pod/db-0/data" {
		t.Errorf("db-0 source = %s", got)
	}
	if got := plan.Nodes["node-b"].Pods[0].Volumes[0].Source; got != "shop/deployment/web/data" {
		t.Errorf("deployment pod source = %s, want one that survives the pod", got)
	}
	if hk := plan.Nodes["node-a"].Pods[1]; len(hk.Volumes) != 0 || len(hk.PreHooks) != 1 {
		t.Errorf("hooks-only pod = %+v: hooks but no volumes", hk)
	}
	// The specs are complete: every default is decided in the plan, so the
	// agent has nothing left to decide.
	for node, spec := range plan.Nodes {
		if spec.BackupName != "b1" || spec.NodeName != node || spec.CaptureMode != api.CaptureStaged || spec.MaxFreeze.Duration != time.Minute {
			t.Errorf("node %s spec = %+v, want backup b1, Staged, maxFreeze 1m", node, spec)
		}
		for _, p := range spec.Pods {
			if p.MaxFreeze == nil || p.MaxFreeze.Duration <= 0 {
				t.Errorf("pod %s: max freeze %v, want the effective value set", p.Name, p.MaxFreeze)
			}
		}
	}
	if hk := plan.Nodes["node-a"].Pods[1]; hk.MaxFreeze.Duration != time.Minute {
		t.Errorf("hooks-only pod max freeze = %v, want the backup's 1m", hk.MaxFreeze)
	}

	want := map[string]struct {
		phase  api.PodPhase
		cause  api.FailureCause
		reason string
	}{
		"bad-hook":  {api.PodFailed, api.CauseInvalidSpec, `"pre.hook.backup.velero.io/timeout"="300"`},
		"no-agent":  {api.PodFailed, api.CauseNoAgent, `node "node-c" runs no quiesce agent`},
		"bad-order": {api.PodFailed, api.CauseInvalidSpec, `"backup.quiesce.dev/order"="first": not an integer`},
		"pending":   {api.PodSkipped, "", "pod phase is Pending: only Running pods are backed up"},
	}
	if len(plan.Results) != len(want) {
		t.Errorf("results = %+v, want %d", plan.Results, len(want))
	}
	for _, r := range plan.Results {
		w, ok := want[r.Name]
		if !ok {
			t.Errorf("unexpected result for %s: %+v", r.Name, r)
			continue
		}
		if r.Phase != w.phase || r.Cause != w.cause || !strings.Contains(r.Reason, w.reason) {
			t.Errorf("%s: %s %s %q, want %s %s containing %q", r.Name, r.Phase, r.Cause, r.Reason, w.phase, w.cause, w.reason)
		}
		// The report names each selected volume the backup holds no data
		// of, so that a restore does not bring it back empty as complete.
		wantVols := 1
		if r.Name == "bad-hook" {
			wantVols = 0 // hooks only
		}
		if len(r.Volumes) != wantVols || (wantVols == 1 && (r.Volumes[0].Name != "data" || r.Volumes[0].SnapshotID != "" ||
			!strings.HasPrefix(r.Volumes[0].Error, "not backed up: the pod's backup "+strings.ToLower(string(w.phase))))) {
			t.Errorf("%s: volumes %+v, want %d, each not backed up", r.Name, r.Volumes, wantVols)
		}
	}

	// defaultVolumesToFsBackup pulls in the pod without annotations, and a
	// label selector narrows the scope.
	b.Spec.DefaultVolumesToFsBackup = &yes
	b.Spec.LabelSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	plan, err = BuildPlan(b, pods, map[string]bool{"node-a": true, "node-b": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Nodes["node-a"].Pods) != 0 || len(plan.Nodes["node-b"].Pods) != 1 || len(plan.Results) != 0 {
		t.Errorf("label-selected plan = %+v", plan)
	}
	b.Spec.LabelSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}
	if _, err := BuildPlan(b, pods, nil); err == nil || !strings.Contains(err.Error(), "backup quiesce/b1: spec.labelSelector") {
		t.Errorf("bad selector error = %v", err)
	}

	b.Spec.LabelSelector = nil
	b.Spec.Hooks = api.BackupHooks{Resources: []api.BackupResourceHookSpec{{Name: "freeze", IncludedNamespaces: []string{"nowhere"},
		PreHooks: []api.BackupResourceHook{{Exec: &api.ExecHook{Command: []string{"sync"}, OnError: "Sometimes"}}}}}}
	if _, err := BuildPlan(b, pods, nil); err == nil || !strings.Contains(err.Error(), "backup quiesce/b1") || !strings.Contains(err.Error(), "Sometimes") {
		t.Errorf("invalid spec hook selecting no pod: err = %v, want the backup failed naming the field", err)
	}
}

func TestOnePodSpecHooks(t *testing.T) {
	pods := []corev1.Pod{
		runningPod("shop", "db-1", "node-a", map[string]string{AnnBackupVolumes: "data"}, map[string]string{"app": "db"}),
		runningPod("shop", "db-0", "node-b", map[string]string{AnnBackupVolumes: "data"}, map[string]string{"app": "db"}),
	}
	exec := func(cmd string) []api.BackupResourceHook {
		return []api.BackupResourceHook{{Exec: &api.ExecHook{Command: []string{cmd}}}}
	}
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b"}, Spec: api.BackupSpec{Hooks: api.BackupHooks{Resources: []api.BackupResourceHookSpec{
		{Name: "checkpoint-primary", OnePod: true, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, PreHooks: exec("checkpoint")},
		{Name: "sync-all", LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, PreHooks: exec("sync")},
	}}}}
	plan, err := BuildPlan(b, pods, map[string]bool{"node-a": true, "node-b": true})
	if err != nil {
		t.Fatal(err)
	}
	cmds := func(a api.PodAssignment) (out []string) {
		for _, h := range a.PreHooks {
			out = append(out, h.Command[0]+"@"+h.Source)
		}
		return out
	}
	db0, db1 := plan.Nodes["node-b"].Pods[0], plan.Nodes["node-a"].Pods[0]
	if got := strings.Join(cmds(db0), ","); got != "checkpoint@spec spec.hooks.resources[0].pre[0],sync@spec spec.hooks.resources[1].pre[0]" {
		t.Errorf("db-0 (first by name) hooks = %s", got)
	}
	if got := strings.Join(cmds(db1), ","); got != "sync@spec spec.hooks.resources[1].pre[0]" {
		t.Errorf("db-1 hooks = %s, want only the every-pod entry", got)
	}
}

// A known-broken database recipe is planned as written (it is valid) and
// named in a warning under its own Event reason.
func TestPlanWarnsOfKnownBrokenRecipes(t *testing.T) {
	pods := []corev1.Pod{
		runningPod("shop", "mysql-0", "node-a", map[string]string{AnnBackupVolumes: "data",
			"pre.hook.backup.velero.io/command": `["mysql","-e","FLUSH TABLES WITH READ LOCK"]`}, nil),
		runningPod("shop", "web-0", "node-a", map[string]string{AnnBackupVolumes: "data",
			"pre.hook.backup.velero.io/command": `["sync"]`}, nil),
	}
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b"}}
	plan, err := BuildPlan(b, pods, map[string]bool{"node-a": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Nodes["node-a"].Pods) != 2 {
		t.Fatalf("planned %d pods, want both", len(plan.Nodes["node-a"].Pods))
	}
	if len(plan.Warnings) != 1 || plan.Warnings[0].Reason != ReasonKnownBrokenRecipe ||
		!strings.HasPrefix(plan.Warnings[0].Message, `pod shop/mysql-0: annotation "pre.hook.backup.velero.io/command"`) {
		t.Errorf("warnings %+v: want one KnownBrokenRecipe naming mysql-0's annotation", plan.Warnings)
	}
}
