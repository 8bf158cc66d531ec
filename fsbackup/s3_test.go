package fsbackup

import (
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// startS3 serves an in-process S3 (gofakes3, memory backend) on loopback.
func startS3(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback for the S3 server: %v", err)
	}
	srv := &http.Server{Handler: gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true)).Server()}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

func TestS3Repository(t *testing.T) {
	endpoint := startS3(t)
	cfg := Config{
		S3: &S3{Endpoint: endpoint, Bucket: "quiesce", Prefix: "cluster-a/", Region: "us-east-1",
			AccessKeyID: "test", SecretAccessKey: "test-secret", DisableTLS: true},
		Password: testPassword, CacheDir: t.TempDir(), Client: "test@node-a",
	}
	e, err := Create(t.Context(), cfg, Format{})
	if err != nil {
		t.Fatalf("create on S3: %v", err)
	}
	defer e.Close(t.Context())
	src := filepath.Join(t.TempDir(), "vol")
	makeTree(t, src)
	full, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
	if err != nil {
		t.Fatalf("backup to S3: %v", err)
	}
	inc, err := e.Backup(t.Context(), src, BackupOptions{Source: testSource})
	if err != nil || inc.PreviousID != full.SnapshotID || inc.BytesHashed != 0 {
		t.Fatalf("incremental on S3: %v %+v", err, inc)
	}
	// A second client connects with its own cache and restores.
	other := cfg
	other.CacheDir = t.TempDir()
	e2, err := Open(t.Context(), other)
	if err != nil {
		t.Fatalf("open S3 repository from a second client: %v", err)
	}
	defer e2.Close(t.Context())
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := e2.Restore(t.Context(), inc.SnapshotID, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := diffDigest(treeDigest(t, src), treeDigest(t, dst)); d != "" {
		t.Fatalf("restored from S3 differs:\n%s", d)
	}
	if _, err := e2.Verify(t.Context(), full.SnapshotID); err != nil {
		t.Fatalf("verify on S3: %v", err)
	}
}
