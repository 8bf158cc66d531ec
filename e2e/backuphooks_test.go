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
	"github.com/quiesce-dev/quiesce/e2e/cluster"
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
	for _, p := range podsOf(t, apiClient(t, c), &b) {
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

// TestBackupLevelJobHookThroughChart runs a backup-level pre hook of the
// job form through the chart's coordinator: a busybox Job in the app's
// namespace prints its uptime, which comes back as the hook's output (the
// tail of the Job pod's log); it must be earlier than every pod's
// pre-hook line (one kernel for both local nodes), so the Job ran before
// any pod froze. The OnFailure post hook makes no Job.
func TestBackupLevelJobHookThroughChart(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qapp")
	installChart(t, c, sys, "/var/lib/quiesce-e2e-repos/"+sys)

	pod := func(name, node string) *corev1.Pod {
		p := hookPod(name, node, map[string]string{
			"backup.velero.io/backup-volumes":   "data",
			"pre.hook.backup.velero.io/command": logLine("pod-pre"),
		})
		p.Labels = map[string]string{"app": name}
		return p
	}
	createPods(t, c, app, pod("db", "node-a"), pod("web", "node-b"))

	job := func(image, script string) string {
		return `{template: {spec: {containers: [{name: marker, image: "` + image + `", imagePullPolicy: Never, command: [/bin/sh, -c, "` + script + `"]}]}}}`
	}
	manifest := `apiVersion: quiesce.dev/v1alpha1
kind: Backup
metadata: {name: e2e-bhjob}
spec:
  includedNamespaces: [` + app + `]
  hooks:
    backup:
      pre:
        - name: marker
          namespace: ` + app + `
          timeout: 60s
          job: ` + job(cluster.BusyboxImage, `read u _ < /proc/uptime; echo job-pre $u`) + `
      post:
        - name: alert
          namespace: ` + app + `
          when: OnFailure
          job: ` + job(cluster.BusyboxImage, `echo failed`) + `
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
	if err := apiClient(t, c).Get(ctx, client.ObjectKey{Namespace: sys, Name: "e2e-bhjob"}, &b); err != nil {
		t.Fatal(err)
	}
	desc, err := run(t, nil, "quiesce", "backup", "describe", "e2e-bhjob", "--details", "--kubeconfig", c.Kubeconfig, "-n", sys)
	t.Logf("describe (%v):\n%s", err, desc)
	if b.Status.Phase != api.BackupPhaseCompleted {
		t.Fatalf("backup = %s (errors %q), want Completed", b.Status.Phase, b.Status.Errors)
	}
	var marker, alert api.BackupHookResult
	for _, r := range b.Status.BackupHooks {
		switch r.Phase + "/" + r.Name {
		case "pre/marker":
			marker = r
		case "post/alert":
			alert = r
		}
	}
	if marker.State != api.BackupHookSucceeded || !strings.HasPrefix(marker.Job, app+"/") || !strings.HasPrefix(marker.Pod, app+"/") ||
		marker.Container != "marker" || marker.Attempts != 1 {
		t.Fatalf("pre/marker = %+v, want Succeeded as a Job in %s", marker, app)
	}
	if alert.State != api.BackupHookSkipped || alert.Job != "" {
		t.Errorf("post/alert = %+v, want Skipped without a Job", alert)
	}
	if !strings.Contains(desc, "pre marker job="+marker.Job) {
		t.Errorf("describe lacks the Job of pre/marker")
	}

	// The Job: one, labelled with the backup, bounded by the timeout, cleaned up by TTL.
	jobs, err := c.Client.BatchV1().Jobs(app).List(ctx, metav1.ListOptions{LabelSelector: api.LabelBackup + "=e2e-bhjob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 || app+"/"+jobs.Items[0].Name != marker.Job {
		t.Fatalf("jobs labelled with the backup: %d, want only %s", len(jobs.Items), marker.Job)
	}
	if s := jobs.Items[0].Spec; s.ActiveDeadlineSeconds == nil || *s.ActiveDeadlineSeconds != 60 ||
		s.TTLSecondsAfterFinished == nil || *s.TTLSecondsAfterFinished != 3600 {
		t.Errorf("job spec: activeDeadlineSeconds %v, ttlSecondsAfterFinished %v", s.ActiveDeadlineSeconds, s.TTLSecondsAfterFinished)
	}

	// The order: the Job's uptime (its log, kept as the hook's output)
	// before every pod's pre-hook line.
	f := strings.Fields(marker.Output)
	if len(f) != 2 || f[0] != "job-pre" {
		t.Fatalf("pre/marker output %q, want \"job-pre <uptime>\"", marker.Output)
	}
	jobAt := uptime(t, f[1])
	for _, p := range []string{"db", "web"} {
		res, err := c.Exec(ctx, app, p, "app", nil, "cat", "/data/order")
		if err != nil {
			t.Fatalf("read /data/order of %s: %v", p, err)
		}
		l := strings.Fields(strings.TrimSpace(res.Stdout))
		if len(l) != 2 || l[0] != "pod-pre" {
			t.Fatalf("%s: /data/order %q", p, res.Stdout)
		}
		if at := uptime(t, l[1]); at < jobAt {
			t.Errorf("%s's pre-hook ran at %.2f, before the backup's pre hook Job (%.2f)", p, at, jobAt)
		}
	}
}
