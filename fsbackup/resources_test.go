package fsbackup

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kopia/kopia/repo"
	"github.com/kopia/kopia/repo/maintenance"
	"github.com/kopia/kopia/snapshot/snapshotmaintenance"
)

func TestResourcesRoundTrip(t *testing.T) {
	e, cfg := newEngine(t)
	ctx := t.Context()

	_, err := e.Resources(ctx, "b1")
	if !errors.Is(err, ErrNoResources) || !strings.Contains(err.Error(), "backup b1 has no stored resources") {
		t.Fatalf("Resources before any put: %v, want ErrNoResources naming b1", err)
	}

	first := randBytes(t, 300<<10)
	second := []byte(`{"formatVersion":1}`)
	if err := e.PutResources(ctx, "b1", first); err != nil {
		t.Fatal(err)
	}
	if err := e.PutResources(ctx, "b2", second); err != nil {
		t.Fatal(err)
	}
	// A second put for b1 wins over the first.
	newer := append(bytes.Clone(first[:1000]), "newer"...)
	if err := e.PutResources(ctx, "b1", newer); err != nil {
		t.Fatal(err)
	}

	// Read back through a second connection: the data was flushed.
	other, err := Connect(ctx, testConfig(t, cfg.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.WithoutCancel(ctx))
	for name, want := range map[string][]byte{"b1": newer, "b2": second} {
		got, err := other.Resources(ctx, name)
		if err != nil {
			t.Fatalf("Resources(%s): %v", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Resources(%s): %d bytes, want %d", name, len(got), len(want))
		}
	}
	// Volume snapshot listings do not show the resources.
	snaps, err := other.Snapshots(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 0 {
		t.Fatalf("Snapshots lists %d entries, want 0 (resources are hidden): %+v", len(snaps), snaps)
	}
	bs, err := other.ResourceBackups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(bs, ",") != "b1,b2" && strings.Join(bs, ",") != "b2,b1" {
		t.Fatalf("ResourceBackups = %v, want b1 and b2", bs)
	}
}

// Full maintenance deletes content that no snapshot reaches; the resources
// must survive it (with no safety margin, so an unreferenced object would go
// at once).
func TestResourcesSurviveGarbageCollection(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	data := randBytes(t, 64<<10)
	if err := e.PutResources(ctx, "b1", data); err != nil {
		t.Fatal(err)
	}
	dr := e.rep.(repo.DirectRepository)
	err := repo.DirectWriteSession(ctx, dr, repo.WriteSessionOptions{Purpose: "test gc"},
		func(ctx context.Context, w repo.DirectRepositoryWriter) error {
			return snapshotmaintenance.Run(ctx, w, maintenance.ModeFull, true, maintenance.SafetyNone)
		})
	if err != nil {
		t.Fatalf("full maintenance: %v", err)
	}
	// Reopen so nothing is served from this connection's caches.
	e2, err := Open(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close(context.WithoutCancel(ctx))
	got, err := e2.Resources(ctx, "b1")
	if err != nil {
		t.Fatalf("resources after full maintenance: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("resources changed by full maintenance")
	}
	// kopia still reads soft-deleted content, so check the index: an object
	// named only by a plain manifest is marked deleted here.
	mans, err := e2.resourcesManifests(ctx, "b1")
	if err != nil || len(mans) != 1 {
		t.Fatalf("resources manifests: %d, %v", len(mans), err)
	}
	d2 := e2.rep.(repo.DirectRepository)
	cids, err := d2.VerifyObject(ctx, mans[0].RootObjectID())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cids {
		ci, err := d2.ContentInfo(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if ci.Deleted {
			t.Fatalf("content %v of the resources was garbage-collected by full maintenance", c)
		}
	}
}

func TestExpireRemovesResourcesOfExpiredBackups(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	now := time.Now()
	src := filepath.Join(t.TempDir(), "vol")
	writeFile(t, filepath.Join(src, "f"), []byte("data"), 0o644)
	backup := func(name string, exp time.Time, vol string) {
		t.Helper()
		s := testSource
		s.Volume = vol
		if _, err := e.Backup(ctx, src, BackupOptions{Source: s, ExpiresAt: exp, Tags: map[string]string{TagBackup: name}}); err != nil {
			t.Fatal(err)
		}
		if err := e.PutResources(ctx, name, []byte(name)); err != nil {
			t.Fatal(err)
		}
	}
	backup("old", now.Add(-time.Hour), "data")
	backup("old", now.Add(-time.Hour), "logs")
	backup("mixed", now.Add(-time.Hour), "data") // one volume expired, one kept
	backup("mixed", now.Add(time.Hour), "logs")
	backup("new", now.Add(time.Hour), "data")
	if err := e.PutResources(ctx, "objects-only", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := e.PutResourcesExpiring(ctx, "objects-only-expired", []byte("x"), now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := e.PutResourcesExpiring(ctx, "objects-only-later", []byte("x"), now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	// Each backup's logs (hook output): they go with its last snapshot
	// and its resources.
	for _, b := range []string{"old", "mixed", "new", "objects-only", "objects-only-expired", "objects-only-later"} {
		if err := e.PutLog(ctx, b, "node-a/shop/db-0", "log of "+b); err != nil {
			t.Fatal(err)
		}
	}

	ids, err := e.Expire(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	for b, want := range map[string]int{"old": 0, "objects-only-expired": 0, "mixed": 1, "new": 1, "objects-only": 1, "objects-only-later": 1} {
		if logs, err := e.Logs(ctx, b); err != nil || len(logs) != want {
			t.Errorf("logs of backup %s after expire: %d (%v), want %d", b, len(logs), err, want)
		}
	}
	if len(ids) != 3 {
		t.Fatalf("expired %d snapshots, want 3", len(ids))
	}
	for _, b := range []string{"old", "objects-only-expired"} {
		if _, err := e.Resources(ctx, b); !errors.Is(err, ErrNoResources) {
			t.Fatalf("resources of expired backup %s: %v, want ErrNoResources", b, err)
		}
	}
	for _, b := range []string{"mixed", "new", "objects-only", "objects-only-later"} {
		if _, err := e.Resources(ctx, b); err != nil {
			t.Fatalf("resources of %s after expire: %v", b, err)
		}
	}
}
