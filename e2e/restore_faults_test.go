package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// TestRestoreHookAtMostOnceAcrossAgentKill: the node's agent is killed
// (-9) while a post-restore hook runs in the restored pod. The agent the
// DaemonSet starts again does not run the hook a second time (its start
// is in the node's restore ledger): the hook ran once, and the Restore
// ends PartiallyFailed saying the hook's outcome is unknown.
func TestRestoreHookAtMostOnceAcrossAgentKill(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	src := c.Namespace(t, "qsrc")
	dst := "qdst-" + strings.TrimPrefix(src, "qsrc-")
	installChart(t, c, sys, "/var/lib/quiesce-e2e-repos/"+sys)
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), dst, metav1.DeleteOptions{})
	})
	createPods(t, c, src, hookPod("db", "node-a", map[string]string{
		"backup.velero.io/backup-volumes": "data",
		// A migration-like hook: each run leaves a line; it takes 6s.
		"post.hook.restore.velero.io/command": `["/bin/sh","-c","echo run >> /data/hook-runs; touch /data/in-hook; sleep 6"]`,
	}))
	if out, err := run(t, nil, "quiesce", "backup", "create", "src", "--kubeconfig", c.Kubeconfig, "-n", sys,
		"--include-namespaces", src, "--wait"); err != nil {
		t.Fatalf("backup create: %v\n%s", err, out)
	}
	kc := apiClient(t, c)
	r := &api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: sys, Name: "killed"},
		Spec: api.RestoreSpec{BackupName: "src", NamespaceMapping: map[string]string{src: dst}, Timeout: &metav1.Duration{Duration: 5 * time.Minute}}}
	if err := kc.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	// The hook's marker, read on the node (the restored pod's volume).
	inHook := func(ctx context.Context) (bool, string, error) {
		p, err := c.Client.CoreV1().Pods(dst).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		_, err = os.Stat(filepath.Join(c.KubeletDir("node-a"), "pods", string(p.UID), "volumes/kubernetes.io~empty-dir/data/in-hook"))
		return err == nil, "hook not started", nil
	}
	if err := cluster.WaitFor(ctx, 3*time.Minute, "the post-restore hook to run", inHook); err != nil {
		logAgents(t, c, sys)
		t.Fatal(err)
	}
	if n := killProcs(func(args []string) bool { return isAgent(args, "node-a") }); n != 1 {
		t.Fatalf("killed %d agent processes on node-a, want 1", n)
	}
	if err := cluster.WaitFor(ctx, 4*time.Minute, "restore killed final", func(ctx context.Context) (bool, string, error) {
		if err := kc.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			return false, err.Error(), nil
		}
		return r.Status.Phase.Final(), string(r.Status.Phase), nil
	}); err != nil {
		logAgents(t, c, sys)
		t.Fatal(err)
	}
	time.Sleep(7 * time.Second) // past a second run, had one started
	res, err := c.Exec(ctx, dst, "db", "app", nil, "cat", "/data/hook-runs", "/data/payload")
	if err != nil {
		t.Fatal(err)
	}
	if runs := strings.Count(res.Stdout, "run\n"); runs != 1 || !strings.Contains(res.Stdout, "payload") {
		t.Errorf("restored pod: hook ran %d times (want once), volume %q", runs, res.Stdout)
	}
	errs := strings.Join(r.Status.Errors, "\n")
	if r.Status.Phase != api.RestorePhasePartiallyFailed || !strings.Contains(errs, "was running when the agent stopped") {
		t.Errorf("restore = %s, errors:\n%s\nwant PartiallyFailed naming the interrupted hook", r.Status.Phase, errs)
	}
}
