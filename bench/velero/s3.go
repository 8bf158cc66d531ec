package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Server is SeaweedFS on the cluster's host bridge (198.18.240.1): pods
// of both nodes reach it there, and nothing outside the machine can. Plain
// HTTP: Velero's AWS plugin and quiesce both allow it for a local endpoint,
// and TLS would cost both tools the same.
type s3Server struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	dir       string
	cmd       *exec.Cmd
	exited    chan struct{}
}

const s3Region = "us-east-1"

// s3Host is the host bridge of the local cluster (hack/cluster/env.sh); a
// variable so that the server's own test can use loopback.
var s3Host = "198.18.240.1"

// Ports on the bridge address; fixed so that a rerun reuses nothing stale
// (the data directory is fresh) and the manifests can name them.
var weedPorts = map[string]int{
	"master": 18330, "master.grpc": 28330, "volume": 18331, "volume.grpc": 28331,
	"filer": 18332, "filer.grpc": 28332, "s3": 18333, "s3.grpc": 28333,
}

// startS3 starts weed with a fresh data directory under dir and creates the
// buckets; it returns once they take writes.
func startS3(ctx context.Context, weed, dir string, buckets ...string) (*s3Server, error) {
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("s3: clear %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(s3Host, strconv.Itoa(weedPorts["s3"])), time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("s3: %s:%d already answers: a previous run's weed still runs (kill it first)", s3Host, weedPorts["s3"])
	}
	s := &s3Server{Endpoint: net.JoinHostPort(s3Host, strconv.Itoa(weedPorts["s3"])),
		AccessKey: "bench-velero", SecretKey: "bench-velero-secret", dir: dir, exited: make(chan struct{})}
	if err := s.writeIdentities(); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		return nil, fmt.Errorf("s3: %w", err)
	}
	p := func(name string) string { return strconv.Itoa(weedPorts[name]) }
	s.cmd = exec.Command(weed, "server",
		"-ip="+s3Host, "-ip.bind="+s3Host, "-dir="+filepath.Join(dir, "data"),
		"-master.port="+p("master"), "-master.port.grpc="+p("master.grpc"),
		"-master.telemetry=false", "-master.volumeSizeLimitMB=1024",
		"-volume.port="+p("volume"), "-volume.port.grpc="+p("volume.grpc"), "-volume.max=64",
		"-filer", "-filer.port="+p("filer"), "-filer.port.grpc="+p("filer.grpc"),
		"-s3", "-s3.port="+p("s3"), "-s3.port.grpc="+p("s3.grpc"), "-s3.port.iceberg=0", "-s3.port.lance=0",
		"-s3.config="+filepath.Join(dir, "identities.json"), "-s3.autoCreateBucket=false")
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// The harness dying takes the server with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("s3: start %s: %w", weed, err)
	}
	go func() { _ = s.cmd.Wait(); logf.Close(); close(s.exited) }()
	if err := s.ready(ctx, buckets); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// ready creates the buckets and writes a probe into each: the S3 port
// answers before the volume server has registered.
func (s *s3Server) ready(ctx context.Context, buckets []string) error {
	c, err := s.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, b := range buckets {
		var last error
		for {
			last = s.probe(ctx, c, b)
			if last == nil {
				break
			}
			select {
			case <-s.exited:
				return fmt.Errorf("s3: weed exited (log: %s): %w", filepath.Join(s.dir, "weed.log"), last)
			case <-ctx.Done():
				return fmt.Errorf("s3: bucket %s not writable: %w", b, last)
			case <-time.After(300 * time.Millisecond):
			}
		}
	}
	return nil
}

func (s *s3Server) probe(ctx context.Context, c *minio.Client, bucket string) error {
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return err
	}
	if !ok {
		if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s3Region}); err != nil {
			return err
		}
	}
	const key = ".bench-probe"
	if _, err := c.PutObject(ctx, bucket, key, strings.NewReader("probe"), 5, minio.PutObjectOptions{}); err != nil {
		return err
	}
	return c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{})
}

// BucketBytes sums the sizes of every object in the bucket: what a tool
// stored, metadata included.
func (s *s3Server) BucketBytes(ctx context.Context, bucket string) (int64, error) {
	c, err := s.client()
	if err != nil {
		return 0, err
	}
	var n int64
	for o := range c.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			return 0, fmt.Errorf("s3: list %s: %w", bucket, o.Err)
		}
		n += o.Size
	}
	return n, nil
}

func (s *s3Server) client() (*minio.Client, error) {
	c, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure: false, Region: s3Region})
	if err != nil {
		return nil, fmt.Errorf("s3: client: %w", err)
	}
	return c, nil
}

// Stop ends the server (SIGTERM, then SIGKILL after 20 s).
func (s *s3Server) Stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *s3Server) writeIdentities() error {
	type cred struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string   `json:"name"`
		Credentials []cred   `json:"credentials"`
		Actions     []string `json:"actions"`
	}
	b, err := json.Marshal(struct {
		Identities []identity `json:"identities"`
	}{[]identity{{Name: "bench", Credentials: []cred{{s.AccessKey, s.SecretKey}},
		Actions: []string{"Admin", "Read", "List", "Tagging", "Write"}}}})
	if err != nil {
		return fmt.Errorf("s3: identities: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "identities.json"), b, 0o600); err != nil {
		return fmt.Errorf("s3: identities: %w", err)
	}
	return nil
}
