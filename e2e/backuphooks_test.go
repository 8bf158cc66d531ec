package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// logLine is a hook command that appends "name <uptime>" to /data/order:
// the file's order is the order of the hooks run in that pod, and the
// uptime (one kernel for both local nodes) orders them across pods.
func logLine(name string) string {
	return `["/bin/sh","-c","read u _ < /proc/uptime; echo ` + name + ` $u >> /data/order"]`
}

// TestBackupLevelHooksThroughChart backs up pods on both nodes with
// backup-level hooks (spec.hooks.backup) through the chart's coordinator
// Job: the pre hook writes its marker before any pod's pre-hook, the post
// hook (when: Always) after every pod's post-hook, and the OnFailure one
// is skipped; status, describe and Events say so.
func TestBackupLevelHooksThroughChart(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qapp")
	repoDir := "/var/lib/quiesce-e2e-repos/" + sys
	installChart(t, c, sys, repoDir)

	pod := func(name, node string) *corev1.Pod {
		p := hookPod(name, node, map[string]string{
			"backup.velero.io/backup-volumes":    "data",
			"pre.hook.backup.velero.io/command":  logLine("pod-pre"),
			"post.hook.backup.velero.io/command": logLine("pod-post"),
		})
		p.Labels = map[string]string{"app": name}
		return p
	}
	createPods(t, c, app, pod("db", "node-a"), pod("web", "node-b"))

	manifest := `apiVersion: quiesce.dev/v1alpha1
kind: Backup
metadata: {name: e2e-bh}
spec:
  includedNamespaces: [` + app + `]
  hooks:
    backup:
      pre:
        - name: announce
          namespace: ` + app + `
          labelSelector: {matchLabels: {app: db}}
          container: app
          command: ` + logLine("backup-pre") + `
          timeout: 20s
      post:
        - name: report
          namespace: ` + app + `
          labelSelector: {matchLabels: {app: db}}
          command: ` + logLine("backup-post") + `
          when: Always
        - name: alert
          namespace: ` + app + `
          labelSelector: {matchLabels: {app: db}}
          command: ` + logLine("backup-alert") + `
          when: OnFailure
`
	file := filepath.Join(t.TempDir(), "backup.yaml")
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, nil, "quiesce", "backup", "create", "-f", file, "--kubeconfig", c.Kubeconfig, "-n", sys, "--wait")
	t.Logf("quiesce backup create:\n%s", out)
	if err != nil {
		t.Fatalf("backup create: %v", err)
	}
	var b api.Backup
	if err := apiClient(t, c).Get(ctx, client.ObjectKey{Namespace: sys, Name: "e2e-bh"}, &b); err != nil {
		t.Fatal(err)
	}
	desc, err := run(t, nil, "quiesce", "backup", "describe", "e2e-bh", "--details", "--kubeconfig", c.Kubeconfig, "-n", sys)
	t.Logf("describe (%v):\n%s", err, desc)

	// --wait returned on the final phase, which comes after the post hooks.
	st := b.Status
	if st.Phase != api.BackupPhaseCompleted || st.CompletionTimestamp == nil {
		t.Fatalf("backup = %s (errors %q), want Completed", st.Phase, st.Errors)
	}
	rec := map[string]api.BackupHookResult{}
	for _, r := range st.BackupHooks {
		rec[r.Phase+"/"+r.Name] = r
	}
	for _, k := range []string{"pre/announce", "post/report"} {
		if r := rec[k]; r.State != api.BackupHookSucceeded || r.Pod != app+"/db" || r.Container != "app" || r.Attempts != 1 {
			t.Errorf("%s = %+v, want Succeeded in %s/db container app", k, r, app)
		}
	}
	if r := rec["post/alert"]; r.State != api.BackupHookSkipped || !strings.Contains(r.Reason, "OnFailure") {
		t.Errorf("post/alert = %+v, want Skipped (the backup Completed)", r)
	}
	if !strings.Contains(desc, "Backup hooks (3):") || !strings.Contains(desc, "pre announce pod="+app+"/db container=app: Succeeded") {
		t.Errorf("describe lacks the backup hooks")
	}

	// The order, from the pods themselves.
	type line struct {
		name string
		at   float64
	}
	read := func(p string) []line {
		res, err := c.Exec(ctx, app, p, "app", nil, "cat", "/data/order")
		if err != nil {
			t.Fatalf("read /data/order of %s: %v", p, err)
		}
		var ls []line
		for _, l := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
			f := strings.Fields(l)
			if len(f) != 2 {
				t.Fatalf("%s: /data/order line %q", p, l)
			}
			ls = append(ls, line{f[0], uptime(t, f[1])})
		}
		return ls
	}
	db, web := read("db"), read("web")
	var names []string
	for _, l := range db {
		names = append(names, l.name)
	}
	// In db, where the backup-level hooks ran, the file's order is exact.
	if got := strings.Join(names, " "); got != "backup-pre pod-pre pod-post backup-post" {
		t.Errorf("db's hooks ran as %q, want backup-pre pod-pre pod-post backup-post", got)
	}
	// Across the nodes: web's pod hooks between the backup's pre and post.
	if len(db) == 4 && len(web) == 2 {
		if !(db[0].at <= web[0].at && web[1].at <= db[3].at) || web[0].name != "pod-pre" || web[1].name != "pod-post" {
			t.Errorf("order across pods: backup-pre %.2f, web %v, backup-post %.2f; want web's hooks between", db[0].at, web, db[3].at)
		}
	} else {
		t.Errorf("db order %v, web order %v", db, web)
	}

	// The snapshot of db holds the backup-level pre hook's line (it ran
	// before the capture), not the post hook's.
	var dbRes api.PodResult
	for _, p := range st.Pods {
		if p.Name == "db" {
			dbRes = p
		}
	}
	if dbRes.Phase != api.PodCompleted || len(dbRes.Volumes) != 1 {
		t.Fatalf("db = %+v", dbRes)
	}
	restored := t.TempDir()
	if out, err := run(t, []string{"QUIESCE_REPO_PASSWORD=e2e-password"}, "quiesce", "fs", "restore", dbRes.Volumes[0].SnapshotID, restored,
		"--repo", repoDir, "--cache-dir", t.TempDir()); err != nil {
		t.Fatalf("fs restore: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(filepath.Join(restored, "order"))
	if s := string(data); !strings.Contains(s, "backup-pre") || !strings.Contains(s, "pod-pre") || strings.Contains(s, "backup-post") {
		t.Errorf("snapshot's order file = %q, want the pre lines only", s)
	}

	// An Event on the Backup per hook that ran or was skipped (the
	// coordinator's recorder sends them in the background: poll).
	var reasons map[string]int
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := c.Client.CoreV1().Events(sys).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.kind=Backup,involvedObject.name=e2e-bh"})
		if err != nil {
			return false, err
		}
		reasons = map[string]int{}
		for _, e := range evs.Items {
			reasons[e.Reason] += max(int(e.Count), 1)
		}
		return reasons["BackupLevelHookRan"] >= 2 && reasons["BackupLevelHookSkipped"] >= 1, nil
	})
	if err != nil {
		t.Errorf("event reasons on the Backup %v (%v), want 2 BackupLevelHookRan and 1 BackupLevelHookSkipped", reasons, err)
	}
}
