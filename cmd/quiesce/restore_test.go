package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func TestParseNamespaceMappings(t *testing.T) {
	got, err := parseNamespaceMappings("shop:shop-copy, db:db-2")
	if err != nil || !reflect.DeepEqual(got, map[string]string{"shop": "shop-copy", "db": "db-2"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"shop":               `"shop": each mapping is SOURCE:TARGET`,
		"shop:":              `"shop:": each mapping is SOURCE:TARGET`,
		":copy":              `":copy": each mapping is SOURCE:TARGET`,
		"Shop_1:copy":        `"Shop_1" is not a namespace name`,
		"shop:a,shop:b":      `namespace "shop" is mapped twice (to "a" and "b"): map each source namespace once`,
		",":                  "no mapping given",
		"shop:a:b":           `"a:b" is not a namespace name`,
		"shop:" + longName(): "is not a namespace name",
	} {
		_, err := parseNamespaceMappings(in)
		if err == nil || !strings.HasPrefix(err.Error(), "--namespace-mappings ") || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want --namespace-mappings ... %s", in, err, want)
		}
	}
}

func longName() string { return strings.Repeat("x", 64) }

// createFlags parses args as `restore create` would and builds the Restore.
func createFlags(t *testing.T, args ...string) (*api.Restore, error) {
	t.Helper()
	var f restoreCreateFlags
	cmd := &cobra.Command{Use: "create"}
	f.add(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 2, 30, 0, 0, time.UTC)
	return f.restore(cmd.Flags().Args(), cmd.Flags().Changed, "quiesce", now)
}

func TestRestoreCreateFlags(t *testing.T) {
	r, err := createFlags(t, "--from-backup", "nightly-1", "--include-namespaces", "shop,db", "--exclude-namespaces", "tmp",
		"--namespace-mappings", "shop:shop-copy", "-l", "app=web", "--existing-resource-policy", "update", "--timeout", "20m")
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := metav1.ParseToLabelSelector("app=web")
	want := api.RestoreSpec{BackupName: "nightly-1", IncludedNamespaces: []string{"shop", "db"}, ExcludedNamespaces: []string{"tmp"},
		NamespaceMapping: map[string]string{"shop": "shop-copy"}, LabelSelector: sel,
		ExistingResourcePolicy: api.ExistingResourcePolicyUpdate, Timeout: &metav1.Duration{Duration: 20 * time.Minute}}
	if !reflect.DeepEqual(r.Spec, want) {
		t.Errorf("spec\n%+v\nwant\n%+v", r.Spec, want)
	}
	if r.Name != "nightly-1-20261126023000" || r.Namespace != "quiesce" || r.Kind != "Restore" {
		t.Errorf("restore %s/%s kind %q", r.Namespace, r.Name, r.Kind)
	}

	long, err := createFlags(t, "--from-backup", strings.Repeat("b", 70))
	if err != nil || len(long.Name) > 63 {
		t.Errorf("default name of a long backup name %q (%d), %v", long.Name, len(long.Name), err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--from-backup is required"},
		{[]string{"--from-backup", "b", "--existing-resource-policy", "replace"}, `--existing-resource-policy "replace": use none or update`},
		{[]string{"--from-backup", "b", "--namespace-mappings", "shop"}, "--namespace-mappings"},
		{[]string{"--from-backup", "b", "--timeout", "0s"}, "--timeout 0s: give a positive duration"},
		{[]string{"--from-backup", "b", "-l", "a in (x"}, `--selector "a in (x"`},
	} {
		if _, err := createFlags(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}

// A Velero manifest is used as it is; flags given override it, NAME too.
func TestRestoreCreateFromVeleroManifest(t *testing.T) {
	mf := filepath.Join(t.TempDir(), "restore.yaml")
	manifest := `apiVersion: velero.io/v1
kind: Restore
metadata: {name: from-velero, namespace: velero}
spec:
  backupName: nightly-1
  includedNamespaces: [shop]
  namespaceMapping: {shop: shop-copy}
  restorePVs: true
  hooks:
    resources:
      - name: migrate
        postHooks: [{exec: {container: app, command: [touch, /data/migrated], onError: Continue}}]
`
	if err := os.WriteFile(mf, []byte(manifest), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := createFlags(t, "-f", mf)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "from-velero" || r.Namespace != "quiesce" || r.APIVersion != api.GroupVersion.String() || r.Spec.BackupName != "nightly-1" ||
		r.Spec.NamespaceMapping["shop"] != "shop-copy" || len(r.Spec.Hooks.Resources) != 1 || r.Spec.Hooks.Resources[0].PostHooks[0].Exec.OnError != api.HookErrorMode("Continue") {
		t.Errorf("restore %+v", r)
	}
	r, err = createFlags(t, "-f", mf, "other", "--namespace-mappings", "shop:shop-2", "--from-backup", "nightly-2")
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "other" || r.Spec.BackupName != "nightly-2" || r.Spec.NamespaceMapping["shop"] != "shop-2" || len(r.Spec.IncludedNamespaces) != 1 {
		t.Errorf("overridden restore %s %+v", r.Name, r.Spec)
	}
}

func sampleRestore() *api.Restore {
	start := metav1.NewTime(time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC))
	end := metav1.NewTime(start.Add(95 * time.Second))
	return &api.Restore{
		ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "r1"},
		Spec:       api.RestoreSpec{BackupName: "nightly-1", NamespaceMapping: map[string]string{"shop": "shop-copy"}},
		Status: api.RestoreStatus{
			Phase: api.RestorePhasePartiallyFailed, StartTimestamp: &start, CompletionTimestamp: &end,
			Progress: api.RestoreProgress{TotalItems: 12, ItemsRestored: 11}, HooksAttempted: 2, HooksFailed: 1,
			Items:        []api.RestoredItem{{Resource: "configmaps", Namespace: "shop-copy", Name: "settings", Outcome: api.ItemExisted, Message: "already exists: left as it is"}},
			NodeRestores: []string{"r1-node-a"},
			Pods: []api.RestorePodResult{{Namespace: "shop-copy", Name: "db-0", Node: "node-a", Phase: api.RestorePodPartiallyFailed,
				Volumes: []api.VolumeRestoreResult{{Name: "data", SnapshotID: "k1", Files: 3, Bytes: 3_400_000, Duration: metav1.Duration{Duration: 2634512 * time.Microsecond}}},
				Hooks: []api.HookResult{{Name: "migrate", Phase: "post-restore", Container: "db", ExitCode: 3, Output: "relation missing\n",
					Duration: metav1.Duration{Duration: 459123 * time.Microsecond}},
					{Name: "check", Phase: "post-restore", Source: "spec", Container: "db", Duration: metav1.Duration{Duration: 72 * time.Second},
						Error: "container db not ready after 1m12s"}}}},
			Errors:   []string{"pod shop-copy/db-0: hook migrate in container db: exit 3"},
			Warnings: []string{"1 objects already existed and were left as they were"},
		},
	}
}

func TestDescribeRestore(t *testing.T) {
	var out bytes.Buffer
	describeRestore(&out, sampleRestore(), true)
	for _, want := range []string{
		"Backup:       nightly-1", "Phase:        PartiallyFailed", "Mapping:      shop -> shop-copy", "Existing:     none", "Timeout:      1h0m0s",
		"Completed:    2026-11-26T02:01:35Z (1m35s)", "Objects:      11 of 12 restored", "Hooks:        2 attempted, 1 failed",
		"Error:        pod shop-copy/db-0: hook migrate in container db: exit 3",
		"Existed    configmaps shop-copy/settings: already exists: left as it is",
		"  pod shop-copy/db-0 on node node-a: PartiallyFailed\n",
		"    volume data: snapshot k1, 3 files, 3.4 MB in 2.6s\n",
		"    hook post-restore migrate container=db exit 3 in 459ms\n      | relation missing\n",
		// the error once, after the row
		"    hook post-restore check container=db error (see reason) in 1m12s (spec)\n      reason: container db not ready after 1m12s\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("describe lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	printRestoreLogs(&out, sampleRestore())
	for _, want := range []string{"pod shop-copy/db-0 on node node-a: PartiallyFailed\n", "  volume data: snapshot k1, 3 files, 3.4 MB in 2.6s\n",
		"  hook post-restore migrate container=db exit 3 in 459ms\n    | relation missing\n", "    reason: container db not ready after 1m12s\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, out.String())
		}
	}
	if got := restoreProgress(sampleRestore()).format(time.Now()); got != "restore r1: PartiallyFailed  objects 11/12  pods 1/1  restored 3.4 MB  elapsed 1m35s" {
		t.Errorf("progress line %q", got)
	}
}

// waitFinal prints each change and returns once the Restore is final.
func TestWaitFinal(t *testing.T) {
	s, err := scheme()
	if err != nil {
		t.Fatal(err)
	}
	r := &api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "r1"}, Spec: api.RestoreSpec{BackupName: "b"}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(r).WithStatusSubresource(&api.Restore{}).Build()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	done := make(chan error, 1)
	cur := &api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "r1"}}
	printed := make(chan struct{}, 10)
	line := func(context.Context) progress { printed <- struct{}{}; return restoreProgress(cur) }
	go func() {
		done <- waitFinal(ctx, c, cur, &api.RestoreList{}, "", &out, line, func() bool { return cur.Status.Phase.Final() })
	}()
	<-printed // the first read, before any change
	for _, ph := range []api.RestorePhase{api.RestorePhaseInProgress, api.RestorePhaseCompleted} {
		r.Status.Phase = ph
		if err := c.Status().Update(ctx, r); err != nil {
			t.Fatal(err)
		}
		<-printed
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := "restore r1: New\nrestore r1: InProgress\nrestore r1: Completed\n"
	if out.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", out.String(), want)
	}
}
