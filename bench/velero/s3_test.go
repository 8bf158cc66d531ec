package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/minio/minio-go/v7"
)

// TestS3Server starts the real SeaweedFS on loopback (BENCH_VELERO_WEED
// names the binary: make weed) and checks that buckets are made and sized.
func TestS3Server(t *testing.T) {
	weed := os.Getenv("BENCH_VELERO_WEED")
	if weed == "" || testing.Short() {
		t.Skip("set BENCH_VELERO_WEED to the weed binary (make weed)")
	}
	s3Host = "127.0.0.1"
	s, err := startS3(t.Context(), weed, t.TempDir(), "bucket-a", "bucket-b")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	c, err := s.client()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(t.Context(), "bucket-a", "x/y", bytes.NewReader(make([]byte, 1000)), 1000, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	for bucket, want := range map[string]int64{"bucket-a": 1000, "bucket-b": 0} {
		if n, err := s.BucketBytes(t.Context(), bucket); err != nil || n != want {
			t.Errorf("bucket %s: %d bytes (%v), want %d", bucket, n, err, want)
		}
	}
}
