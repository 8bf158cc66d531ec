package fsbackup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	kfs "github.com/kopia/kopia/fs"
)

func TestBackupIncrementalRestoreRoundTrip(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	want := treeDigest(t, src)

	var mu sync.Mutex
	var last ProgressUpdate
	e.Progress = ProgressFunc(func(u ProgressUpdate) { mu.Lock(); last = u; mu.Unlock() })

	full, err := e.Backup(ctx, src, BackupOptions{Source: testSource, Tags: map[string]string{"backup": "b1", "pod": "db-0"}})
	if err != nil {
		t.Fatalf("full backup: %v", err)
	}
	if full.PreviousID != "" || full.Files != 4 || full.BytesHashed < 3<<20 || full.BytesUploaded < 3<<20 {
		t.Fatalf("full backup result: %+v", full)
	}
	mu.Lock()
	if last.FilesDone != 6 || last.BytesDone < 3<<20 || last.BytesUploaded < 3<<20 || last.Source != testSource {
		t.Errorf("final progress update: %+v", last)
	}
	mu.Unlock()

	// Unchanged: nothing is read or uploaded.
	inc, err := e.Backup(ctx, src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatalf("incremental backup: %v", err)
	}
	if inc.PreviousID != full.SnapshotID || inc.Files != 4 || inc.CachedFiles != 6 || inc.BytesHashed != 0 || inc.BytesUploaded > 16<<10 {
		t.Fatalf("unchanged incremental: %+v", inc)
	}

	// One changed file: only it is hashed and uploaded.
	writeFile(t, filepath.Join(src, "a", "b", "random.bin"), randBytes(t, 256<<10), 0o600)
	if err := os.Lchown(filepath.Join(src, "a", "b", "random.bin"), 1234, 5678); err != nil {
		t.Fatal(err)
	}
	one, err := e.Backup(ctx, src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatalf("one-file incremental: %v", err)
	}
	if one.BytesHashed != 256<<10 || one.BytesUploaded < 256<<10 || one.BytesUploaded > 256<<10+64<<10 || one.CachedFiles != 5 {
		t.Fatalf("one-file incremental: %+v", one)
	}
	want = treeDigest(t, src)

	// Round trip, with every file's checksum, mode, owner, mtime, symlink.
	dst := filepath.Join(t.TempDir(), "restored")
	rr, err := e.Restore(ctx, one.SnapshotID, dst, RestoreOptions{})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if rr.Files != 4 || rr.Symlinks != 2 {
		t.Errorf("restore result: %+v", rr)
	}
	if d := diffDigest(want, treeDigest(t, dst)); d != "" {
		t.Fatalf("restored tree differs:\n%s", d)
	}

	snaps, err := e.Snapshots(ctx, &testSource)
	if err != nil || len(snaps) != 3 {
		t.Fatalf("snapshots: %v %+v", err, snaps)
	}
	if snaps[0].ID != full.SnapshotID || snaps[0].Tags["backup"] != "b1" || snaps[0].Source != testSource {
		t.Errorf("first snapshot: %+v", snaps[0])
	}
}

func TestIncrementalSurvivesNewPodPath(t *testing.T) {
	e, _ := newEngine(t)
	oldPod := filepath.Join(t.TempDir(), "pods", "uid-1", "volumes", "kubernetes.io~empty-dir", "data")
	makeTree(t, oldPod)
	first, err := e.Backup(t.Context(), oldPod, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	// The pod is rescheduled: same data, new UID path.
	newPod := filepath.Join(t.TempDir(), "pods", "uid-2", "volumes", "kubernetes.io~empty-dir", "data")
	if err := os.Rename(oldPod, newPod); err != nil {
		if err := os.MkdirAll(filepath.Dir(newPod), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(oldPod, newPod); err != nil {
			t.Fatal(err)
		}
	}
	second, err := e.Backup(t.Context(), newPod, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	if second.PreviousID != first.SnapshotID || second.BytesHashed != 0 {
		t.Fatalf("backup after reschedule was not incremental: %+v", second)
	}
}

func TestFileErrors(t *testing.T) {
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	faults := map[string]error{"small.txt": syscall.ENOENT, "owned.txt": syscall.EACCES}

	t.Run("VanishedIgnoredPermissionDeniedFails", func(t *testing.T) {
		e, _ := newEngine(t)
		e.wrapDir = func(d kfs.Directory) kfs.Directory { return faultyDir{Directory: d, faults: faults} }
		res, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
		if !errors.Is(err, ErrFileErrors) || !strings.Contains(err.Error(), "owned.txt") {
			t.Fatalf("want ErrFileErrors naming owned.txt, got %v", err)
		}
		if len(res.FileErrors) != 2 || res.FileErrors[0].Path != "a/small.txt" || !res.FileErrors[0].Vanished ||
			res.FileErrors[1].Path != "owned.txt" || res.FileErrors[1].Vanished ||
			!strings.Contains(res.FileErrors[1].Reason, "permission denied") {
			t.Fatalf("file errors: %+v", res.FileErrors)
		}
		if snaps, _ := e.Snapshots(t.Context(), nil); len(snaps) != 0 {
			t.Fatalf("a failed backup saved a snapshot: %+v", snaps)
		}
	})
	t.Run("VanishedOnlySaves", func(t *testing.T) {
		e, _ := newEngine(t)
		e.wrapDir = func(d kfs.Directory) kfs.Directory {
			return faultyDir{Directory: d, faults: map[string]error{"small.txt": syscall.ENOENT}}
		}
		res, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
		if err != nil || res.SnapshotID == "" || len(res.FileErrors) != 1 || !res.FileErrors[0].Vanished {
			t.Fatalf("vanished file should be reported and skipped: %v %+v", err, res)
		}
	})
	t.Run("RealVanish", func(t *testing.T) {
		e, _ := newEngine(t)
		vol := filepath.Join(t.TempDir(), "vol")
		makeTree(t, vol)
		e.wrapDir = func(d kfs.Directory) kfs.Directory { return vanishingDir{Directory: d, victim: "small.txt"} }
		res, err := e.Backup(t.Context(), vol, BackupOptions{Source: testSource})
		if err != nil || len(res.FileErrors) != 1 || res.FileErrors[0].Path != "a/small.txt" || !res.FileErrors[0].Vanished {
			t.Fatalf("file deleted after listing: %v %+v", err, res)
		}
		if res.Files != 3 {
			t.Errorf("snapshot should hold the 3 remaining files: %+v", res)
		}
	})
	t.Run("IgnoreAll", func(t *testing.T) {
		e, _ := newEngine(t)
		e.FileErrors = IgnoreAll
		e.wrapDir = func(d kfs.Directory) kfs.Directory { return faultyDir{Directory: d, faults: faults} }
		res, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
		if err != nil || res.SnapshotID == "" || len(res.FileErrors) != 2 {
			t.Fatalf("IgnoreAll: %v %+v", err, res)
		}
	})
}

func TestPasswords(t *testing.T) {
	_, cfg := newEngine(t)
	bad := cfg
	bad.Password = "wrong"
	bad.CacheDir = t.TempDir()
	if _, err := Open(t.Context(), bad); !errors.Is(err, ErrInvalidPassword) || !strings.Contains(err.Error(), cfg.Path) {
		t.Fatalf("wrong password: want ErrInvalidPassword naming the repository, got %v", err)
	}
	none := cfg
	none.Password = ""
	if _, err := Open(t.Context(), none); !errors.Is(err, ErrNoPassword) {
		t.Fatalf("no password: got %v", err)
	}
	t.Setenv(PasswordEnv, "")
	if _, err := LoadPassword(""); !errors.Is(err, ErrNoPassword) {
		t.Fatalf("LoadPassword without file or env: %v", err)
	}
	t.Setenv(PasswordEnv, "from-env")
	if p, err := LoadPassword(""); err != nil || p != "from-env" {
		t.Fatalf("LoadPassword env: %q %v", p, err)
	}
	f := filepath.Join(t.TempDir(), "pw")
	writeFile(t, f, []byte("from-file\n"), 0o600)
	if p, err := LoadPassword(f); err != nil || p != "from-file" {
		t.Fatalf("LoadPassword file: %q %v", p, err)
	}
	if _, err := Create(t.Context(), cfg, Format{}); !errors.Is(err, ErrAlreadyInitialized) {
		t.Fatalf("create twice: %v", err)
	}
	missing := testConfig(t, filepath.Join(t.TempDir(), "nothing"))
	if _, err := Open(t.Context(), missing); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("open of missing repository: %v", err)
	}
}

func TestVerifyDetectsCorruptPack(t *testing.T) {
	e, cfg := newEngine(t)
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	res, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	if vr, err := e.Verify(t.Context(), res.SnapshotID); err != nil || vr.Files < 4 {
		t.Fatalf("verify of a healthy snapshot: %v %+v", err, vr)
	}
	// Flip bytes in the middle of the largest data pack.
	var biggest string
	var size int64
	_ = filepath.Walk(cfg.Path, func(p string, fi os.FileInfo, err error) error {
		rel, _ := filepath.Rel(cfg.Path, p)
		if err == nil && fi.Mode().IsRegular() && strings.HasPrefix(rel, "p") && fi.Size() > size {
			biggest, size = p, fi.Size()
		}
		return nil
	})
	if biggest == "" {
		t.Fatal("no pack blob found in the repository")
	}
	b, err := os.ReadFile(biggest)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 2; i < len(b)/2+64; i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(biggest, b, 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := cfg
	fresh.CacheDir = t.TempDir() // the cache would hide the corruption
	e2, err := Open(t.Context(), fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close(t.Context())
	if _, err := e2.Verify(t.Context(), res.SnapshotID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("verify after corruption: want ErrCorrupt, got %v", err)
	}
	if _, err := e2.Verify(t.Context(), "nosuchsnapshot"); !errors.Is(err, ErrSnapshotNotFound) {
		t.Fatalf("verify of unknown snapshot: %v", err)
	}
}

func TestRestoreTargets(t *testing.T) {
	e, _ := newEngine(t)
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	res, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	writeFile(t, filepath.Join(dst, "extra.txt"), []byte("not in the snapshot"), 0o644)
	writeFile(t, filepath.Join(dst, "big.bin"), []byte("stale"), 0o644)
	if _, err := e.Restore(t.Context(), res.SnapshotID, dst, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("restore into non-empty dir without overwrite: %v", err)
	}
	if _, err := e.Restore(t.Context(), res.SnapshotID, dst, RestoreOptions{Overwrite: true}); err != nil {
		t.Fatalf("restore with overwrite: %v", err)
	}
	if d := diffDigest(treeDigest(t, src), treeDigest(t, dst)); d != "" {
		t.Fatalf("overwritten tree differs:\n%s", d)
	}
}

func TestExpireAndMaintenance(t *testing.T) {
	e, _ := newEngine(t)
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	now := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	old, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource, ExpiresAt: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	keep, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	forever, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatal(err)
	}
	expired, err := e.Expire(t.Context(), now)
	if err != nil || len(expired) != 1 || expired[0] != old.SnapshotID {
		t.Fatalf("expire: %v %v", err, expired)
	}
	snaps, err := e.Snapshots(t.Context(), nil)
	if err != nil || len(snaps) != 2 || snaps[0].ID != keep.SnapshotID || snaps[1].ID != forever.SnapshotID ||
		!snaps[0].ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("after expire: %v %+v", err, snaps)
	}
	if err := e.Maintenance(t.Context(), "agent@node-a", false); !errors.Is(err, ErrNotMaintenanceOwner) {
		t.Fatalf("maintenance by a non-owner: %v", err)
	}
	if err := e.Maintenance(t.Context(), "", false); err != nil {
		t.Fatalf("quick maintenance: %v", err)
	}
	if err := e.Maintenance(t.Context(), DefaultMaintenanceOwner, true); err != nil {
		t.Fatalf("full maintenance: %v", err)
	}
	if _, err := e.Restore(t.Context(), keep.SnapshotID, t.TempDir(), RestoreOptions{}); err != nil {
		t.Fatalf("restore after maintenance: %v", err)
	}
	st, err := e.Status(t.Context())
	if err != nil || st.MaintenanceOwner != DefaultMaintenanceOwner || st.Hash != "BLAKE3-256-128" {
		t.Fatalf("status: %v %+v", err, st)
	}
}

func TestFatalErrorDoesNotExit(t *testing.T) {
	e, _ := newEngine(t)
	e.fatal(errors.New("missing required feature"))
	if _, err := e.Backup(t.Context(), t.TempDir(), BackupOptions{Source: testSource}); !errors.Is(err, ErrFatal) {
		t.Fatalf("backup after a fatal error: %v", err)
	}
}

func TestParseSource(t *testing.T) {
	for in, ok := range map[string]bool{
		"shop/db/data": true, "shop/statefulset/db/data": true, "shop/db": false, "/db/data": false,
		"shop/a/b/c/d": false, "": false,
	} {
		s, err := ParseSource(in)
		if (err == nil) != ok {
			t.Errorf("ParseSource(%q) = %+v, %v", in, s, err)
		}
		if ok && s.String() != in {
			t.Errorf("round trip %q -> %q", in, s.String())
		}
	}
}

// Maintenance by its owner (another process: its own connection and cache)
// while an agent backs up must not damage the snapshots being written.
func TestMaintenanceWhileBackingUp(t *testing.T) {
	agent, cfg := newEngine(t)
	owner := cfg
	owner.CacheDir, owner.Client = t.TempDir(), "owner@coordinator"
	maint, err := Open(t.Context(), owner)
	if err != nil {
		t.Fatal(err)
	}
	defer maint.Close(t.Context())
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)

	done := make(chan error, 1)
	go func() {
		for i := range 3 {
			if err := maint.Maintenance(t.Context(), "", i%2 == 1); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	var ids []string
	for i := range 4 {
		writeFile(t, filepath.Join(src, "a", "small.txt"), randBytes(t, 4096+i), 0o644)
		res, err := agent.Backup(t.Context(), src, BackupOptions{Source: testSource})
		if err != nil {
			t.Fatalf("backup %d during maintenance: %v", i, err)
		}
		ids = append(ids, res.SnapshotID)
	}
	if err := <-done; err != nil {
		t.Fatalf("maintenance during backups: %v", err)
	}
	if err := maint.Maintenance(t.Context(), "", true); err != nil {
		t.Fatalf("full maintenance after backups: %v", err)
	}
	fresh := cfg
	fresh.CacheDir = t.TempDir()
	check, err := Open(t.Context(), fresh)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close(t.Context())
	for _, id := range ids {
		if _, err := check.Verify(t.Context(), id); err != nil {
			t.Fatalf("snapshot %s after concurrent maintenance: %v", id, err)
		}
	}
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := check.Restore(t.Context(), ids[len(ids)-1], dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := diffDigest(treeDigest(t, src), treeDigest(t, dst)); d != "" {
		t.Fatalf("restore after concurrent maintenance differs:\n%s", d)
	}
}

func TestCancelledBackupSavesNothing(t *testing.T) {
	e, _ := newEngine(t)
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.Backup(ctx, src, BackupOptions{Source: testSource}); !errors.Is(err, context.Canceled) {
		t.Fatalf("backup with a cancelled context: %v", err)
	}
	if snaps, err := e.Snapshots(t.Context(), nil); err != nil || len(snaps) != 0 {
		t.Fatalf("a cancelled backup saved snapshots: %v %+v", err, snaps)
	}
}

// A relative cache directory (`repo init --cache-dir c`) panicked inside
// kopia's content cache and wrote repository files into the working
// directory; paths given to kopia are made absolute.
func TestRelativeCacheDir(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg := Config{Path: "repo", Password: testPassword, CacheDir: "c", Client: "test@node-a"}
	e, err := Create(t.Context(), cfg, Format{})
	if err != nil {
		t.Fatalf("create with a relative cache dir: %v", err)
	}
	writeFile(t, filepath.Join(dir, "vol", "f"), []byte("data"), 0o644)
	if _, err := e.Backup(t.Context(), "vol", BackupOptions{Source: testSource}); err != nil {
		t.Fatalf("backup: %v", err)
	}
	st, err := e.Status(t.Context())
	if err != nil || !filepath.IsAbs(st.CacheDir) || !filepath.IsAbs(st.ConfigFile) {
		t.Fatalf("status: %+v %v", st, err)
	}
	_ = e.Close(t.Context())
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, de := range ents {
		names = append(names, de.Name())
	}
	if strings.Join(names, ",") != "c,repo,vol" {
		t.Fatalf("working directory holds %v, want only c, repo and vol", names)
	}
	if _, err := os.Stat(filepath.Join(dir, "c", "repository.config")); err != nil {
		t.Fatalf("connection config not under the cache dir: %v", err)
	}
	e, err = Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	_ = e.Close(t.Context())
}
