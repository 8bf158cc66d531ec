package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/agent/phase"
)

func TestPutGetFrozenDelete(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	recs := []Record{
		{Backup: "nightly-1", Namespace: "shop", Pod: "db-0", PodUID: "u1", Phase: phase.Capturing, ThawBy: t0.Add(time.Minute), Updated: t0},
		{Backup: "nightly-1", Namespace: "shop", Pod: "web", PodUID: "u2", Phase: phase.Uploading, Updated: t0.Add(time.Second)},
		{Backup: "nightly-1", Namespace: "shop", Pod: "cache", PodUID: "u3", Phase: phase.Freezing, Updated: t0.Add(2 * time.Second)},
	}
	for _, r := range recs {
		if err := j.Put(r); err != nil {
			t.Fatal(err)
		}
	}
	// A second write replaces the first.
	recs[2].Phase = phase.Thawing
	if err := j.Put(recs[2]); err != nil {
		t.Fatal(err)
	}
	// A restarted agent opens the same directory.
	j2, _ := Open(dir)
	got, ok, err := j2.Get("nightly-1", "u3")
	if err != nil || !ok || got.Phase != phase.Thawing || got.Pod != "cache" {
		t.Fatalf("Get = %+v %v %v, want cache in Thawing", got, ok, err)
	}
	frozen, err := j2.Frozen()
	if err != nil {
		t.Fatal(err)
	}
	if len(frozen) != 2 || frozen[0].Pod != "db-0" || frozen[1].Pod != "cache" {
		t.Fatalf("Frozen = %+v, want db-0 then cache", frozen)
	}
	if !frozen[0].ThawBy.Equal(t0.Add(time.Minute)) {
		t.Errorf("ThawBy lost: %v", frozen[0].ThawBy)
	}
	if err := j2.Delete("nightly-1", "u1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := j2.Get("nightly-1", "u1"); ok {
		t.Fatal("deleted record still there")
	}
	left, _ := os.ReadDir(dir)
	for _, e := range left {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestCorruptRecordIsReportedNotSkipped(t *testing.T) {
	dir := t.TempDir()
	j, _ := Open(dir)
	if err := j.Put(Record{Backup: "b", Pod: "ok", PodUID: "u1", Phase: phase.Capturing}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b_u2.json"), []byte("{trunc"), 0o600); err != nil {
		t.Fatal(err)
	}
	frozen, err := j.Frozen()
	if err == nil || !strings.Contains(err.Error(), "b_u2.json is corrupt") {
		t.Fatalf("err = %v, want corrupt record named", err)
	}
	if len(frozen) != 1 || frozen[0].Pod != "ok" {
		t.Fatalf("readable records must still be returned: %+v", frozen)
	}
}

func TestPutRejectsUnsafeKeys(t *testing.T) {
	j, _ := Open(t.TempDir())
	for _, r := range []Record{{Backup: "", PodUID: "u"}, {Backup: "a/b", PodUID: "u"}, {Backup: "a", PodUID: "x_y"}} {
		if err := j.Put(r); err == nil {
			t.Errorf("Put(%+v) accepted", r)
		}
	}
}
