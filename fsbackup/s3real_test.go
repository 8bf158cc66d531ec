package fsbackup

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/quiesce-dev/quiesce/internal/testenv/s3server"
)

// These tests run the repository code against a real S3 server (SeaweedFS,
// `make weed`) over TLS with a CA made for the test, and inject the
// storage-side faults into that process: SIGKILL mid-upload, a rotated
// secret, an untrusted certificate.

func realS3Config(t *testing.T, srv *s3server.Server) Config {
	return Config{
		S3: &S3{Endpoint: srv.Endpoint, Bucket: srv.Bucket, Prefix: "cluster-a/", Region: "us-east-1",
			AccessKeyID: srv.AccessKey, SecretAccessKey: srv.SecretKey, CA: srv.CA.PEM},
		Password: testPassword, CacheDir: t.TempDir(), Client: "test@node-a",
	}
}

func TestRealS3BackupRestore(t *testing.T) {
	s3server.Require(t)
	srv := s3server.Start(t, "quiesce")
	cfg := realS3Config(t, srv)
	e, err := Create(t.Context(), cfg, Format{})
	if err != nil {
		t.Fatalf("create on real S3: %v", err)
	}
	defer e.Close(t.Context())
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	writeFile(t, filepath.Join(src, "big.bin"), randBytes(t, 9<<20+17), 0o600) // several 4 MiB chunks
	full, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatalf("backup to real S3: %v", err)
	}
	// The objects are under the prefix, not at the bucket's root.
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for o := range c.ListObjects(t.Context(), srv.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("list bucket: %v", o.Err)
		}
		if !strings.HasPrefix(o.Key, "cluster-a/") {
			t.Errorf("object %q outside the prefix cluster-a/", o.Key)
		}
		n++
	}
	if n == 0 {
		t.Fatal("the bucket holds no object after a backup")
	}

	// A second client, with its own cache and only the CA file's contents,
	// restores byte-identical data.
	other := realS3Config(t, srv)
	e2, err := Open(t.Context(), other)
	if err != nil {
		t.Fatalf("open from a second client: %v", err)
	}
	defer e2.Close(t.Context())
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := e2.Restore(t.Context(), full.SnapshotID, dst, RestoreOptions{}); err != nil {
		t.Fatalf("restore from real S3: %v", err)
	}
	if d := diffDigest(treeDigest(t, src), treeDigest(t, dst)); d != "" {
		t.Fatalf("restored from real S3 differs:\n%s", d)
	}
	if _, err := e2.Verify(t.Context(), full.SnapshotID); err != nil {
		t.Fatalf("verify on real S3: %v", err)
	}
}

// TestRealS3KilledMidUpload kills the server with SIGKILL while a backup
// uploads and restarts it at once: the backup rides out the outage
// (kopia's retries), nothing committed before is lost, and the next backup
// works.
func TestRealS3KilledMidUpload(t *testing.T) { killMidUpload(t, false) }

// TestRealS3DownPastRetries kills the server mid-upload and leaves it down
// until the backup gives up: the backup must end with ErrStorageUnavailable
// naming the endpoint and save nothing half-written; after the restart the
// first snapshot is intact and a new backup works. kopia gives up only
// after 5 to 7 minutes (10 attempts of minio's 10 retries, for each
// write of the session): the slowest test here.
func TestRealS3DownPastRetries(t *testing.T) { killMidUpload(t, true) }

func killMidUpload(t *testing.T, stayDown bool) {
	s3server.Require(t)
	srv := s3server.Start(t, "quiesce")
	cfg := realS3Config(t, srv)
	e, err := Create(t.Context(), cfg, Format{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	defer e.Close(t.Context())
	first := filepath.Join(t.TempDir(), "first")
	makeTree(t, first)
	s1, err := e.Backup(t.Context(), first, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatalf("first backup: %v", err)
	}

	// A throttled connection makes the upload last a few seconds,
	// so that the kill lands in its middle.
	ucfg := cfg
	ucfg.CacheDir = t.TempDir()
	ucfg.UploadBytesPerSecond = 8 << 20
	ue, err := Open(t.Context(), ucfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer ue.Close(context.WithoutCancel(t.Context()))
	src := filepath.Join(t.TempDir(), "second")
	for i := range 6 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%d.bin", i)), randBytes(t, 6<<20), 0o600)
	}
	killed := make(chan struct{})
	var once sync.Once
	ue.ProgressInterval = 20 * time.Millisecond
	ue.Progress = ProgressFunc(func(u ProgressUpdate) {
		// Past the first data pack (kopia writes small blobs first).
		if u.BytesUploaded > 1<<20 {
			once.Do(func() { close(killed) })
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		res, err := ue.Backup(ctx, src, BackupOptions{Source: Source{Namespace: "shop", Workload: "statefulset/db", Volume: "big"}})
		done <- outcome{res, err}
	}()
	select {
	case <-killed:
	case o := <-done:
		t.Fatalf("the backup ended before any upload could be interrupted (%v): make it larger", o.err)
	}
	srv.Kill()
	t.Logf("killed the S3 server %s after the backup started", time.Since(start).Round(time.Millisecond))
	var o outcome
	if !stayDown {
		srv.Restart()
		o = <-done
	} else {
		o = <-done
		t.Logf("backup ended after %s with the server down", time.Since(start).Round(time.Millisecond))
		srv.Restart()
	}
	t.Logf("backup: %v", o.err)
	switch {
	case stayDown && o.err == nil:
		t.Fatal("the backup succeeded while the server was dead")
	case o.err != nil && !errors.Is(o.err, ErrStorageUnavailable):
		t.Errorf("the backup's error is not ErrStorageUnavailable: %v", o.err)
	case o.err != nil && !strings.Contains(o.err.Error(), srv.Endpoint):
		t.Errorf("the backup's error does not name the endpoint %s: %v", srv.Endpoint, o.err)
	}

	// After the restart: the first snapshot is intact, a new
	// backup works (on a fresh connection, as a restarted agent
	// makes), and so does the interrupted one if it completed.
	fresh := cfg
	fresh.CacheDir = t.TempDir()
	fe, err := Open(t.Context(), fresh)
	if err != nil {
		t.Fatalf("open after the restart: %v", err)
	}
	defer fe.Close(context.WithoutCancel(t.Context()))
	restoreEqual(t, fe, s1.SnapshotID, first)
	if o.err == nil {
		restoreEqual(t, fe, o.res.SnapshotID, src)
	}
	s3, err := fe.Backup(t.Context(), src, BackupOptions{Source: Source{Namespace: "shop", Workload: "statefulset/db", Volume: "big"}})
	if err != nil {
		t.Fatalf("backup after the restart: %v", err)
	}
	restoreEqual(t, fe, s3.SnapshotID, src)
	if _, err := fe.Verify(t.Context(), s1.SnapshotID); err != nil {
		t.Fatalf("verify the first snapshot after the kill: %v", err)
	}
}

func restoreEqual(t *testing.T, e *Engine, id, want string) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := e.Restore(t.Context(), id, dst, RestoreOptions{}); err != nil {
		t.Fatalf("restore %s: %v", id, err)
	}
	if d := diffDigest(treeDigest(t, want), treeDigest(t, dst)); d != "" {
		t.Fatalf("snapshot %s restored differs from %s:\n%s", id, want, d)
	}
}

// TestRealS3RotatedSecret rotates the server's secret: a client with the
// old secret gets an error naming the fix; one given the new secret works,
// even where the old secret is in its saved connection.
func TestRealS3RotatedSecret(t *testing.T) {
	s3server.Require(t)
	srv := s3server.Start(t, "quiesce")
	cfg := realS3Config(t, srv)
	e, err := Create(t.Context(), cfg, Format{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	s1, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	_ = e.Close(t.Context())

	srv.Kill() // SIGTERM takes weed ~25 s; the rotation is what is tested
	srv.RotateCredentials()
	srv.Restart()

	start := time.Now()
	_, err = Open(t.Context(), cfg) // same cache dir: the saved connection has the old secret too
	t.Logf("open with the old secret (%s): %v", time.Since(start).Round(time.Millisecond), err)
	if !errors.Is(err, ErrStorageCredentials) {
		t.Fatalf("open with the rotated-out secret: want ErrStorageCredentials, got %v", err)
	}
	for _, want := range []string{cfg.S3.Bucket, "AWS_SECRET_ACCESS_KEY", "aws-secret-access-key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q: %v", want, err)
		}
	}

	cfg.S3.SecretAccessKey = srv.SecretKey
	e2, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("open with the new secret and the old saved connection: %v", err)
	}
	defer e2.Close(t.Context())
	restoreEqual(t, e2, s1.SnapshotID, src)
	if _, err := e2.Backup(t.Context(), src, BackupOptions{Source: testSource}); err != nil {
		t.Fatalf("backup with the new secret: %v", err)
	}
}

// TestRealS3UntrustedCA: a client that trusts another CA, or none given,
// fails with a TLS error that names the CA setting.
func TestRealS3UntrustedCA(t *testing.T) {
	s3server.Require(t)
	srv := s3server.Start(t, "quiesce")
	if _, err := Create(t.Context(), realS3Config(t, srv), Format{}); err != nil {
		t.Fatalf("create: %v", err)
	}
	other, err := s3server.NewCA("another-ca")
	if err != nil {
		t.Fatal(err)
	}
	for name, ca := range map[string][]byte{"another CA": other.PEM, "system roots": nil} {
		t.Run(name, func(t *testing.T) {
			cfg := realS3Config(t, srv)
			cfg.S3.CA = ca
			start := time.Now()
			_, err := Open(t.Context(), cfg)
			t.Logf("open (%s): %v", time.Since(start).Round(time.Millisecond), err)
			var verr *tls.CertificateVerificationError
			if !errors.Is(err, ErrStorageTLS) || !errors.As(err, &verr) {
				t.Fatalf("want ErrStorageTLS with the certificate error, got %v", err)
			}
			if !strings.Contains(err.Error(), "--s3-ca-file") || !strings.Contains(err.Error(), srv.Endpoint) {
				t.Errorf("the error names neither the CA setting nor the endpoint: %v", err)
			}
		})
	}
	t.Run("not PEM", func(t *testing.T) {
		cfg := realS3Config(t, srv)
		cfg.S3.CA = []byte("not a certificate")
		_, err := Open(t.Context(), cfg)
		if err == nil || !strings.Contains(err.Error(), "--s3-ca-file") {
			t.Fatalf("want an error naming --s3-ca-file, got %v", err)
		}
	})
}

// TestRealS3NoBucket: a bucket that does not exist is named, with the fix.
func TestRealS3NoBucket(t *testing.T) {
	s3server.Require(t)
	srv := s3server.Start(t, "quiesce")
	cfg := realS3Config(t, srv)
	cfg.S3.Bucket = "missing"
	start := time.Now()
	_, err := Create(t.Context(), cfg, Format{})
	t.Logf("create (%s): %v", time.Since(start).Round(time.Millisecond), err)
	if !errors.Is(err, ErrNoBucket) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("want ErrNoBucket naming the bucket, got %v", err)
	}
}
