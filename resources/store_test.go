package resources

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/fsbackup"
)

// newStore creates a real kopia filesystem repository in a temp dir.
func newStore(t *testing.T) *RepoStore {
	t.Helper()
	cfg := fsbackup.Config{Path: filepath.Join(t.TempDir(), "repo"), Password: "test-password-123", CacheDir: t.TempDir(), Client: "test@coordinator"}
	e, err := fsbackup.Create(t.Context(), cfg, fsbackup.Format{})
	if err != nil {
		t.Fatalf("create repository: %v", err)
	}
	t.Cleanup(func() { _ = e.Close(context.WithoutCancel(t.Context())) })
	return &RepoStore{Engine: e}
}

func testBackup() *api.Backup {
	done := metav1.NewTime(time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC))
	return &api.Backup{
		ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "nightly-1"},
		Spec:       api.BackupSpec{IncludedNamespaces: []string{"shop"}},
		Status:     api.BackupStatus{Phase: api.BackupPhaseCompleted, CompletionTimestamp: &done, PodCounts: api.PodCounts{Total: 1, Completed: 1}},
	}
}

func testReport() []api.PodResult {
	return []api.PodResult{{Namespace: "shop", Name: "db-0", UID: "u1", Phase: api.PodCompleted}}
}

func TestRepoStoreRoundTrip(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	if _, err := s.Load(ctx, "nightly-1"); !errors.Is(err, fsbackup.ErrNoResources) {
		t.Fatalf("Load before Save: %v, want fsbackup.ErrNoResources", err)
	}
	disco, dyn := newFakes(t)
	items, warnings, err := Collect(ctx, disco, dyn, Scope{IncludedNamespaces: []string{"shop"}})
	if err != nil {
		t.Fatal(err)
	}
	doc := &Document{Backup: *testBackup(), Pods: testReport(), CollectedAt: time.Date(2026, 11, 26, 2, 0, 1, 0, time.UTC), Items: items, Warnings: warnings}
	if err := s.Save(ctx, doc); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx, "nightly-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.FormatVersion != FormatVersion || got.Backup.Name != "nightly-1" || got.Pods[0].UID != "u1" ||
		!got.CollectedAt.Equal(doc.CollectedAt) || !reflect.DeepEqual(got.Warnings, warnings) {
		t.Fatalf("loaded document differs: %+v", got)
	}
	if len(got.Items) != len(items) {
		t.Fatalf("loaded %d items, saved %d", len(got.Items), len(items))
	}
	for i := range items {
		a, b := items[i], got.Items[i]
		if a.GVR() != b.GVR() || a.Kind != b.Kind || a.Namespaced != b.Namespaced || !reflect.DeepEqual(a.Object.Object, b.Object.Object) {
			t.Fatalf("item %d: saved %+v\nloaded %+v", i, a.Object.Object, b.Object.Object)
		}
	}
}

func TestDecodeRejectsOtherFormatVersion(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(`{"formatVersion": 99, "items": []}`))
	_ = zw.Close()
	_, err := Decode(buf.Bytes())
	if err == nil || !strings.Contains(err.Error(), "format version 99") {
		t.Fatalf("Decode = %v, want a format version error", err)
	}
	if _, err := Decode([]byte("{}")); err == nil || !strings.Contains(err.Error(), "gzip") {
		t.Fatalf("Decode of plain JSON = %v, want a gzip error", err)
	}
}

// A document stored before the per-pod report left the Backup's status
// still gives its pods (a restore of an older backup finds its snapshots).
func TestDecodeReadsTheReportOfAnOlderDocument(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprintf(zw, `{"formatVersion":%d,"backup":{"metadata":{"name":"old"},"status":{"phase":"Completed","pods":[{"namespace":"shop","name":"db-0","uid":"u1","phase":"Completed","volumes":[{"name":"data","snapshotID":"k1"}]}]}},"items":[]}`, FormatVersion)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	doc, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Pods) != 1 || doc.Pods[0].Volumes[0].SnapshotID != "k1" {
		t.Fatalf("pods = %+v, want db-0 with snapshot k1", doc.Pods)
	}
}

func TestRecorderStoresBackupWithProgress(t *testing.T) {
	s := newStore(t)
	disco, dyn := newFakes(t)
	r := &Recorder{Discovery: disco, Dynamic: dyn, Store: s, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	b := testBackup()
	prog, warnings, err := r.Record(t.Context(), b, testReport())
	if err != nil {
		t.Fatal(err)
	}
	if prog.TotalItems != 16 || prog.ItemsBackedUp != 16 {
		t.Fatalf("progress = %+v, want 16 of 16", prog)
	}
	if len(warnings) != 1 {
		t.Fatalf("warnings = %q, want the roles one", warnings)
	}
	doc, err := s.Load(t.Context(), b.Name)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Backup.Status.Progress != prog || doc.Backup.Kind != "Backup" || doc.Backup.Status.Phase != api.BackupPhaseCompleted ||
		!doc.CollectedAt.Equal(time.Unix(1_800_000_000, 0)) || len(doc.Items) != 16 {
		t.Fatalf("stored document: backup %+v, %d items", doc.Backup, len(doc.Items))
	}
	if b.Status.Progress != (api.BackupProgress{}) {
		t.Fatal("Record changed the caller's Backup")
	}
}

// The stored objects go when the Backup expires, even with no volume
// snapshot to expire with.
func TestRepoStoreExpiresWithBackup(t *testing.T) {
	s := newStore(t)
	ctx := t.Context()
	b := testBackup()
	exp := metav1.NewTime(time.Now().Add(-time.Minute))
	b.Status.Expiration = &exp
	if err := s.Save(ctx, &Document{Backup: *b}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, b.Name); err != nil {
		t.Fatalf("before expire: %v", err)
	}
	if _, err := s.Engine.Expire(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, b.Name); !errors.Is(err, fsbackup.ErrNoResources) {
		t.Fatalf("after expire: %v, want fsbackup.ErrNoResources", err)
	}
}
