package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// TestCronJobBackupWithHeldHook lets the chart's CronJob fire a backup on
// its own, of a pod whose pre-hook is held (mode Hold): the hold's marker
// is in the snapshot (held for the whole capture), and after the thaw the
// held process is gone and its marker removed (released after the capture).
func TestCronJobBackupWithHeldHook(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qapp")
	repoDir := "/var/lib/quiesce-e2e-repos/" + sys
	installChart(t, c, sys, repoDir,
		"--set", "coordinator.schedules[0].name=minutely", "--set", "coordinator.schedules[0].schedule=* * * * *",
		"--set-json", `coordinator.schedules[0].template={"includedNamespaces":["`+app+`"]}`)

	p := hookPod("db", "node-b", map[string]string{
		"backup.velero.io/backup-volumes": "data",
		"pre.hook.backup.quiesce.dev/hooks": `[{"name": "hold", "mode": "Hold", "command": ["/bin/sh", "-c",
			"echo locked > /data/held; echo ready; cat; rm /data/held"], "hold": {"readyLine": "ready", "releaseTimeout": "5s"}}]`,
		"post.hook.backup.velero.io/command": stamp("thawed"),
	})
	createPods(t, c, app, p)

	// The CronJob fires within a minute; its coordinator names the Backup.
	cl := apiClient(t, c)
	var b api.Backup
	err := cluster.WaitFor(ctx, 3*time.Minute, "a Backup made by the minutely CronJob to finish", func(ctx context.Context) (bool, string, error) {
		var list api.BackupList
		if err := cl.List(ctx, &list, client.InNamespace(sys), client.MatchingLabels{"quiesce.dev/schedule": "minutely"}); err != nil {
			return false, "", err
		}
		for _, x := range list.Items {
			if x.Status.Phase.Final() {
				b = x
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%d backups", len(list.Items)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.Status.Phase != api.BackupPhaseCompleted || len(podsOf(t, cl, &b)) != 1 || len(podsOf(t, cl, &b)[0].Volumes) != 1 {
		t.Fatalf("backup %s = %s %+v", b.Name, b.Status.Phase, podsOf(t, cl, &b))
	}
	// Each hook once, by its final outcome: the hold's release replaces
	// its held record, and nothing counts as failed.
	if hs := podsOf(t, cl, &b)[0].Hooks; len(hs) != 2 || hs[0].Name != "hold" || hs[0].Held || hs[0].ExitCode != 0 || b.Status.HooksFailed != 0 {
		t.Errorf("hooks %+v, hooksFailed %d: want the hold released (exit 0) and the post-hook, none failed", hs, b.Status.HooksFailed)
	}
	restored := t.TempDir()
	if out, err := run(t, []string{"QUIESCE_REPO_PASSWORD=e2e-password"}, "quiesce", "fs", "restore",
		podsOf(t, cl, &b)[0].Volumes[0].SnapshotID, restored, "--repo", repoDir, "--cache-dir", t.TempDir()); err != nil {
		t.Fatalf("fs restore: %v\n%s", err, out)
	}
	if held, _ := os.ReadFile(filepath.Join(restored, "held")); strings.TrimSpace(string(held)) != "locked" {
		t.Errorf("snapshot lacks the hold's marker: the hold did not hold during the capture")
	}
	r, err := c.Exec(ctx, app, "db", "app", nil, "sh", "-c", "ls /data; ps")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Stdout, "held") || strings.Contains(r.Stdout, " cat") {
		t.Errorf("after the thaw the hold is still there:\n%s", r.Stdout)
	}
	if !strings.Contains(r.Stdout, "thawed") {
		t.Errorf("post-hook did not run:\n%s", r.Stdout)
	}
}
