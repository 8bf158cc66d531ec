package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// stamp is a hook command that records the host's uptime (comparable
// across the two nodes, which share the kernel) in /data/NAME.
func stamp(name string) string {
	return `["/bin/sh","-c","read u _ < /proc/uptime; echo $u > /data/` + name + `"]`
}

// TestBackupGroupsDeadlinesTimeouts checks, on both nodes through the
// chart: a consistency group freezes in ascending order and thaws in
// reverse order; a hook past its timeout is reported on time with its
// processes gone; a member whose freeze deadline passes while it waits for
// its group is thawed, and the group is aborted.
func TestBackupGroupsDeadlinesTimeouts(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qapp")
	repoDir := "/var/lib/quiesce-e2e-repos/" + sys
	installChart(t, c, sys, repoDir)

	group := func(name, node, group, order string, extra map[string]string) *corev1.Pod {
		ann := map[string]string{
			"backup.velero.io/backup-volumes":    "data",
			"backup.quiesce.dev/group":           group,
			"backup.quiesce.dev/order":           order,
			"pre.hook.backup.velero.io/command":  stamp("frozen"),
			"post.hook.backup.velero.io/command": stamp("thawed"),
		}
		for k, v := range extra {
			ann[k] = v
		}
		return hookPod(name, node, ann)
	}
	pods := []*corev1.Pod{
		group("first", "node-a", "ok", "1", nil),
		group("second", "node-b", "ok", "2", nil),
		hookPod("slow", "node-a", map[string]string{
			"backup.velero.io/backup-volumes":    "data",
			"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","sleep 600 & sleep 600"]`,
			"pre.hook.backup.velero.io/timeout":  "2s",
			"post.hook.backup.velero.io/command": stamp("thawed"),
		}),
		// "waiter" is frozen first and may stay frozen 3s; "laggard"'s
		// pre-hook takes 8s, so the group never gets all frozen in time.
		group("waiter", "node-b", "late", "1", map[string]string{"backup.quiesce.dev/max-freeze": "3s"}),
		group("laggard", "node-a", "late", "2", map[string]string{"pre.hook.backup.velero.io/command": `["/bin/sh","-c","sleep 8"]`}),
	}
	createPods(t, c, app, pods...)
	start := time.Now()
	out, err := run(t, nil, "quiesce", "backup", "create", "e2e-2", "--kubeconfig", c.Kubeconfig, "-n", sys,
		"--include-namespaces", app, "--wait")
	t.Logf("quiesce backup create (%s):\n%s", time.Since(start).Round(time.Millisecond), out)
	if err != nil {
		t.Fatalf("backup create: %v", err)
	}
	var b api.Backup
	if err := apiClient(t, c).Get(ctx, client.ObjectKey{Namespace: sys, Name: "e2e-2"}, &b); err != nil {
		t.Fatal(err)
	}
	res := map[string]api.PodResult{}
	for _, p := range podsOf(t, apiClient(t, c), &b) {
		res[p.Name] = p
	}
	uptime := func(pod, file string) float64 {
		r, err := c.Exec(ctx, app, pod, "app", nil, "cat", "/data/"+file)
		if err != nil {
			t.Fatalf("read %s of %s: %v", file, pod, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(r.Stdout), 64)
		if err != nil {
			t.Fatalf("%s of %s = %q: %v", file, pod, r.Stdout, err)
		}
		return v
	}

	// The group: ascending freeze, descending thaw, across the nodes.
	if res["first"].Phase != api.PodCompleted || res["second"].Phase != api.PodCompleted {
		t.Errorf("group ok: first %s (%s), second %s (%s)", res["first"].Phase, res["first"].Reason, res["second"].Phase, res["second"].Reason)
	}
	f1, f2 := uptime("first", "frozen"), uptime("second", "frozen")
	t1, t2 := uptime("first", "thawed"), uptime("second", "thawed")
	if !(f1 <= f2 && f2 <= t2 && t2 <= t1) {
		t.Errorf("group order: first frozen %.2f, second frozen %.2f, second thawed %.2f, first thawed %.2f; want ascending freeze, reverse thaw", f1, f2, t2, t1)
	}

	// The timed-out hook: reported as such, its processes gone, the pod thawed.
	slow := res["slow"]
	if slow.Phase != api.PodFailed || len(slow.Hooks) == 0 || !slow.Hooks[0].TimedOut || slow.Hooks[0].Duration.Duration > 10*time.Second {
		t.Errorf("slow = %+v: want its pre-hook timed out after about 2s", slow)
	}
	if r, _ := c.Exec(ctx, app, "slow", "app", nil, "ps"); strings.Contains(r.Stdout, "sleep 600") {
		t.Errorf("the timed-out hook's processes are still running:\n%s", r.Stdout)
	}
	uptime("slow", "thawed")

	// The deadline: the waiter was thawed at its 3s deadline, the group aborted.
	waiter, laggard := res["waiter"], res["laggard"]
	if waiter.Phase != api.PodFailed || !strings.Contains(waiter.Reason, "freeze deadline 3s passed") ||
		waiter.Freeze == nil || waiter.Freeze.Duration > 6*time.Second {
		t.Errorf("waiter = %s %q freeze %v: want thawed by its 3s deadline", waiter.Phase, waiter.Reason, waiter.Freeze)
	}
	if laggard.Phase != api.PodFailed || !nothingCaptured(laggard) {
		t.Errorf("laggard = %s %q: want failed with the aborted group, nothing captured", laggard.Phase, laggard.Reason)
	}
	uptime("waiter", "thawed")
	if len(laggard.Hooks) == 0 {
		t.Fatalf("laggard's pre-hook never started (%s): the group aborted before its turn, so this run tested nothing of a member frozen while its group aborts", laggard.Reason)
	}
	uptime("laggard", "thawed")
}
