package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func verifiedBackup() *api.Backup {
	start := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	end := metav1.NewTime(start.Add(41*time.Second + 370*time.Millisecond))
	return &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "qs", Name: "nightly"}, Status: api.BackupStatus{
		Phase: api.BackupPhaseCompleted,
		Verification: &api.BackupVerification{Phase: api.VerificationFailed, StartTime: &start, CompletionTime: &end,
			Restore: "nightly-verify-0a1b2c", NamespaceMapping: map[string]string{"shop": "shop-verify-0a1b2c"},
			Reason: "1 of 2 pods failed: pod shop/db: check exited 3",
			Pods: []api.PodVerification{
				{Namespace: "shop", Name: "db", RestoredNamespace: "shop-verify-0a1b2c", Checked: true, Container: "app", ExitCode: 3,
					Duration: metav1.Duration{Duration: 12345678 * time.Nanosecond}, Output: "checking\ncorrupt", Error: "check exited 3"},
				{Namespace: "shop", Name: "web", RestoredNamespace: "shop-verify-0a1b2c", Passed: true, Message: "no check hook"},
			}},
	}}
}

func TestDescribeBackupVerification(t *testing.T) {
	var out bytes.Buffer
	describeBackup(&out, verifiedBackup(), false)
	want := `
Verification:
  Phase:        Failed (1 of 2 pods failed: pod shop/db: check exited 3)
  Restore:      nightly-verify-0a1b2c (shop -> shop-verify-0a1b2c), 41.4s
  pod shop/db (restored as shop-verify-0a1b2c/db): Failed, check container=app exit 3 in 12ms: check exited 3
    | checking
    | corrupt
  pod shop/web (restored as shop-verify-0a1b2c/web): Passed, no check hook
`
	if !strings.Contains(out.String(), want) {
		t.Errorf("describe:\n%s\nwant the section:%s", out.String(), want)
	}
}

// -o json is the object as it is: the verification round-trips exactly.
func TestBackupVerificationJSON(t *testing.T) {
	var out bytes.Buffer
	if err := printObject(&out, "json", verifiedBackup()); err != nil {
		t.Fatal(err)
	}
	var got api.Backup
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got.Status.Verification)
	w, _ := json.Marshal(verifiedBackup().Status.Verification)
	if string(g) != string(w) {
		t.Errorf("json:\n got %s\nwant %s", g, w)
	}
	for _, field := range []string{`"exitCode": 3`, `"duration": "12.345678ms"`, `"restoredNamespace": "shop-verify-0a1b2c"`} {
		if !strings.Contains(out.String(), field) {
			t.Errorf("-o json lacks %s", field)
		}
	}
}
