package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/resources"
)

func item(group, version, resource, kind, ns, name string) resources.Item {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(version)
	o.SetKind(kind)
	o.SetName(name)
	o.SetNamespace(ns)
	return resources.Item{Group: group, Version: version, Resource: resource, Kind: kind, Namespaced: ns != "", Object: o}
}

func backupNamed(name string) *api.Backup {
	return &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: name}}
}

// describe --details reads the per-pod report (every pod, with its hooks'
// output) and the objects from the repository.
func TestDescribeStoredObjects(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var rf repoFlags
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	rf.add(fs)
	if err := fs.Parse([]string{"--repo", filepath.Join(dir, "repo"), "--cache-dir", filepath.Join(dir, "cache"), "--password-file", pw}); err != nil {
		t.Fatal(err)
	}
	cfg, err := rf.config()
	if err != nil {
		t.Fatal(err)
	}
	e, err := fsbackup.Create(t.Context(), cfg, fsbackup.Format{})
	if err != nil {
		t.Fatal(err)
	}
	doc := &resources.Document{
		Backup: api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1"}},
		Pods: []api.PodResult{{Namespace: "shop", Name: "db-0", Node: "node-a", Phase: api.PodCompleted,
			Hooks:   []api.HookResult{{Name: "flush", Phase: "pre", Container: "db", Output: "flushed 3 tables"}},
			Volumes: []api.VolumeResult{{Name: "data", SnapshotID: "k1"}}}},
		CollectedAt: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC),
		Items: []resources.Item{
			item("", "v1", "namespaces", "Namespace", "", "shop"),
			item("apps", "v1", "deployments", "Deployment", "shop", "api"),
			item("apps", "v1", "deployments", "Deployment", "shop", "web"),
		},
		Warnings: []string{"roles.rbac.authorization.k8s.io: not stored: forbidden"},
	}
	if err := (&resources.RepoStore{Engine: e}).Save(t.Context(), doc); err != nil {
		t.Fatal(err)
	}
	_ = e.Close(context.WithoutCancel(t.Context()))

	var out bytes.Buffer
	if err := describeStored(t.Context(), &out, &rf, backupNamed("b1")); err != nil {
		t.Fatal(err)
	}
	want := `
Pods (1, from the repository):
  pod shop/db-0 on node node-a: Completed
    hook pre flush container=db exit 0 in 0s
      | flushed 3 tables
    volume data: snapshot k1, 0 files, 0 B, capture 0s

Objects (3, collected 2026-11-26T02:00:00Z):
  namespaces (1): shop
  deployments.apps (2): shop/api, shop/web
  warning: roles.rbac.authorization.k8s.io: not stored: forbidden
`
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	if err := describeStored(t.Context(), &out, &rf, backupNamed("older")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "none stored: backup older has no stored resources") {
		t.Fatalf("output for a backup without objects: %q", out.String())
	}

	out.Reset()
	if err := describeStored(t.Context(), &out, &repoFlags{}, backupNamed("b1")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "--repo PATH") || strings.Count(out.String(), "\n") != 2 {
		t.Fatalf("output without a repository: %q, want one line naming --repo", out.String())
	}
}

// describe rounds what people read; -o json keeps the exact values.
func TestDescribeBackupRounds(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC))
	end := metav1.NewTime(start.Add(72*time.Second + 345678*time.Microsecond))
	freeze := metav1.Duration{Duration: 2634512 * time.Microsecond}
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1"},
		Status: api.BackupStatus{Phase: api.BackupPhaseFailed, StartTimestamp: &start, CompletionTimestamp: &end,
			PodCounts: api.PodCounts{Total: 1, Failed: 1},
			FailedPods: []api.PodResult{{Namespace: "shop", Name: "db-0", Node: "node-a", Phase: api.PodFailed, Freeze: &freeze,
				Hooks:   []api.HookResult{{Name: "pg-freeze", Phase: "pre", Container: "db", Duration: metav1.Duration{Duration: 459123 * time.Microsecond}}},
				Volumes: []api.VolumeResult{{Name: "data", SnapshotID: "k1", Files: 3, Bytes: 3_400_000, Capture: freeze}}}}}}
	var out bytes.Buffer
	describeBackup(&out, b, false)
	for _, want := range []string{"Completed:    2026-11-26T02:01:12Z (1m12s)\n", "  pod shop/db-0 on node node-a: Failed, frozen 2.6s\n",
		"Pods:         1: 0 completed, 1 failed, 0 skipped, 0 in progress\n", "\nFailed pods (1):\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "hook") {
		t.Errorf("describe without --details lists hooks:\n%s", out.String())
	}
	out.Reset()
	describeBackup(&out, b, true)
	for _, want := range []string{"    hook pre pg-freeze container=db exit 0 in 459ms\n", "    volume data: snapshot k1, 3 files, 3.4 MB, capture 2.6s\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe --details lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := printObject(&out, "json", b); err != nil || !strings.Contains(out.String(), `"freeze": "2.634512s"`) {
		t.Errorf("-o json (%v) does not keep the exact freeze:\n%s", err, out.String())
	}
}

// describe lists the backup-level hooks, with their output at --details.
func TestDescribeBackupLevelHooks(t *testing.T) {
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1"},
		Status: api.BackupStatus{Phase: api.BackupPhasePartiallyFailed, BackupHooks: []api.BackupHookResult{
			{HookResult: api.HookResult{Name: "announce", Phase: "pre", Container: "db", Source: "spec spec.hooks.backup.pre[0]",
				Duration: metav1.Duration{Duration: 12 * time.Millisecond}, Output: "started"}, State: api.BackupHookSucceeded, Pod: "shop/db-0", Attempts: 1},
			{HookResult: api.HookResult{Name: "report", Phase: "post", Container: "db", ExitCode: 2, Duration: metav1.Duration{Duration: time.Second}},
				State: api.BackupHookFailed, Pod: "shop/db-0", Attempts: 2},
			{HookResult: api.HookResult{Name: "celebrate", Phase: "post", Skipped: true}, State: api.BackupHookSkipped,
				Reason: "when OnSuccess, and the backup is PartiallyFailed"},
		}}}
	var out bytes.Buffer
	describeBackup(&out, b, true)
	for _, want := range []string{
		"\nBackup hooks (3):\n",
		"  pre announce pod=shop/db-0 container=db: Succeeded, exit 0 in 12ms (spec spec.hooks.backup.pre[0])\n    | started\n",
		"  post report pod=shop/db-0 container=db: Failed, exit 2 in 1s, attempt 2\n",
		"  post celebrate: Skipped (when OnSuccess, and the backup is PartiallyFailed)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
}
