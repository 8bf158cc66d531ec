package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func TestNewestFirst(t *testing.T) {
	at := func(name string, min int) api.Restore {
		return api.Restore{ObjectMeta: metav1.ObjectMeta{Name: name,
			CreationTimestamp: metav1.NewTime(time.Date(2026, 11, 26, 3, min, 0, 0, time.UTC))}}
	}
	items := []api.Restore{at("old", 1), at("new", 9), at("mid", 5)}
	all, err := newestFirst(items, "restore", "quiesce", nil)
	if err != nil || len(all) != 3 || all[0].Name != "new" || all[1].Name != "mid" || all[2].Name != "old" {
		t.Errorf("all = %v (%v), want new, mid, old", all, err)
	}
	one, err := newestFirst(items, "restore", "quiesce", []string{"mid"})
	if err != nil || len(one) != 1 || one[0].Name != "mid" {
		t.Errorf("mid = %v (%v)", one, err)
	}
	if _, err := newestFirst(items, "restore", "quiesce", []string{"gone"}); err == nil || err.Error() != "restore quiesce/gone not found" {
		t.Errorf("missing name: %v", err)
	}
}

// get and describe share one skeleton for both kinds: a name that is not
// there is an error naming it, -o prints the objects as they are, else the
// kind's table or description.
func TestGetAndShow(t *testing.T) {
	s, err := scheme()
	if err != nil {
		t.Fatal(err)
	}
	r := sampleRestore()
	b := &api.Backup{ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1"}, Status: api.BackupStatus{Phase: api.BackupPhaseCompleted}}
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(r, b).Build()
	ctx := t.Context()
	var out bytes.Buffer
	if err := restores.get(ctx, c, "quiesce", nil, "", &out); err != nil || !strings.HasPrefix(out.String(), "NAME  BACKUP") || !strings.Contains(out.String(), "r1    nightly-1") {
		t.Errorf("restore get (%v):\n%s", err, out.String())
	}
	out.Reset()
	if err := backups(nil).get(ctx, c, "quiesce", []string{"b1"}, "", &out); err != nil || !strings.Contains(out.String(), "b1    Completed") {
		t.Errorf("backup get b1 (%v):\n%s", err, out.String())
	}
	if err := backups(nil).get(ctx, c, "quiesce", []string{"gone"}, "", &out); err == nil || err.Error() != "backup quiesce/gone not found" {
		t.Errorf("backup get gone: %v", err)
	}
	out.Reset()
	if err := restores.show(ctx, c, "quiesce", "r1", "json", false, &out); err != nil || !strings.Contains(out.String(), `"duration": "2.634512s"`) {
		t.Errorf("restore describe -o json (%v) does not keep the exact duration:\n%s", err, out.String())
	}
	out.Reset()
	if err := backups(nil).show(ctx, c, "quiesce", "b1", "", true, &out); err != nil || !strings.Contains(out.String(), "Name:         quiesce/b1") {
		t.Errorf("backup describe (%v):\n%s", err, out.String())
	}
	if err := restores.show(ctx, c, "quiesce", "gone", "", false, &out); err == nil || !strings.HasPrefix(err.Error(), "restore quiesce/gone: ") {
		t.Errorf("restore describe gone: %v", err)
	}
}
