// Package s3server starts a real S3 server for integration tests: SeaweedFS
// (the weed binary that `make weed` builds into .cache/seaweedfs) on
// loopback, over TLS with a CA made for the test, with one access key and a
// bucket. The test can kill it with SIGKILL, restart it on the same ports
// and data, and rotate its credentials.
package s3server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/quiesce-dev/quiesce/internal/testenv/reporoot"
)

// BinaryEnv overrides where the weed binary is looked up.
const BinaryEnv = "QUIESCE_WEED"

// Require skips tb unless QUIESCE_INTEGRATION=1 and QUIESCE_S3=1 (the first
// is internal/testenv's, not imported: it would pull containerd into every
// package that starts an S3 server), and fails it when they are set
// but weed is missing: CI must never skip silently. No root needed.
func Require(tb testing.TB) {
	tb.Helper()
	// Not in make test: the server's cold build and these tests' faults (a
	// store down past kopia's retries) take too long for CI; make test-s3.
	if os.Getenv("QUIESCE_INTEGRATION") != "1" || os.Getenv("QUIESCE_S3") != "1" {
		tb.Skip("integration test against a real S3 server (SeaweedFS): make test-s3 (QUIESCE_INTEGRATION=1 QUIESCE_S3=1, after make weed)")
	}
	if _, err := Binary(); err != nil {
		tb.Fatal(err)
	}
}

// Binary finds the weed binary: $QUIESCE_WEED, else .cache/seaweedfs/weed
// under the repository root (make weed), else weed in PATH.
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p, nil
	}
	if root, err := reporoot.Find(); err == nil {
		p := filepath.Join(root, ".cache", "seaweedfs", "weed")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("weed"); err == nil {
		return p, nil
	}
	return "", errors.New("s3server: weed (SeaweedFS) not found: run `make weed` (builds .cache/seaweedfs/weed) or set " + BinaryEnv)
}

// Server is one SeaweedFS process serving S3 over TLS on one address
// (127.0.0.1 unless started with StartAt).
type Server struct {
	// Endpoint is host:port of the S3 API.
	Endpoint string
	Bucket   string
	// AccessKey and SecretKey are the identity the server accepts now.
	AccessKey, SecretKey string
	// CA signed the server's certificate; CA.PEM is what clients trust.
	CA *CA

	tb      testing.TB
	bin     string
	ip      string // where every port listens
	dir     string // data, config, certificates and log
	ports   map[string]int
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	starts  int
}

// StartTimeout bounds one start, up to a bucket that takes writes (the
// master elects itself, the volume server registers, the filer connects).
const StartTimeout = 90 * time.Second

// Start runs a server with a fresh data directory under tb.TempDir(),
// creates the bucket and returns once an object can be written into it.
// The server is killed when the test ends.
func Start(tb testing.TB, bucket string) *Server {
	tb.Helper()
	return StartAt(tb, bucket, "127.0.0.1")
}

// StartAt is Start on ip, one of this machine's addresses: the local
// cluster's pods reach the host bridge's (198.18.240.1), not loopback. The
// certificate names ip too.
func StartAt(tb testing.TB, bucket, ip string) *Server {
	tb.Helper()
	addr := net.ParseIP(ip)
	if addr == nil {
		tb.Fatalf("s3server: %q is not an IP address", ip)
	}
	bin, err := Binary()
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := NewCA("quiesce-test-s3-ca")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{
		Bucket: bucket, AccessKey: "quiesce-test", SecretKey: "secret-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		CA: ca, tb: tb, bin: bin, ip: ip, dir: tb.TempDir(),
	}
	certPEM, keyPEM, err := ca.ServerCert(addr)
	if err != nil {
		tb.Fatal(err)
	}
	for name, b := range map[string][]byte{"ca.pem": ca.PEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(s.dir, name), b, 0o600); err != nil {
			tb.Fatalf("s3server: %v", err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.dir, "data"), 0o700); err != nil {
		tb.Fatalf("s3server: %v", err)
	}
	if s.ports, err = freePorts(ip, "master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc"); err != nil {
		tb.Fatalf("s3server: %v", err)
	}
	s.Endpoint = net.JoinHostPort(ip, strconv.Itoa(s.ports["s3"]))
	tb.Cleanup(func() { s.Kill() })
	s.Restart()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(tb.Context()), StartTimeout)
	defer cancel()
	if err := s.retry(ctx, "create bucket "+bucket, func(ctx context.Context, c *minio.Client) error {
		err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
		if minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
			return nil
		}
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	s.waitWritable()
	return s
}

// CAFile is the path of the CA certificate in PEM.
func (s *Server) CAFile() string { return filepath.Join(s.dir, "ca.pem") }

// Restart starts the process (again) on the same ports and data, with the
// current credentials, and returns once the bucket takes writes. Kill or
// Stop it first.
func (s *Server) Restart() {
	s.tb.Helper()
	if s.running() {
		s.tb.Fatal("s3server: Restart while the server runs: Kill or Stop it first")
	}
	if err := s.writeIdentities(); err != nil {
		s.tb.Fatal(err)
	}
	s.starts++
	logf, err := os.OpenFile(filepath.Join(s.dir, "weed.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.tb.Fatalf("s3server: %v", err)
	}
	fmt.Fprintf(logf, "=== start %d\n", s.starts)
	p := s.ports
	d := s.dir
	cmd := exec.Command(s.bin, "server",
		"-ip="+s.ip, "-ip.bind="+s.ip, "-dir="+filepath.Join(d, "data"),
		"-master.port="+itoa(p["master"]), "-master.port.grpc="+itoa(p["master.grpc"]),
		"-master.telemetry=false", "-master.volumeSizeLimitMB=256",
		"-volume.port="+itoa(p["volume"]), "-volume.port.grpc="+itoa(p["volume.grpc"]), "-volume.max=32",
		"-filer", "-filer.port="+itoa(p["filer"]), "-filer.port.grpc="+itoa(p["filer.grpc"]),
		"-filer.localSocket="+filepath.Join(d, "filer.sock"),
		"-s3", "-s3.port="+itoa(p["s3"]), "-s3.port.grpc="+itoa(p["s3.grpc"]),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.localSocket="+filepath.Join(d, "s3.sock"),
		"-s3.config="+filepath.Join(d, "identities.json"),
		"-s3.cert.file="+filepath.Join(d, "cert.pem"), "-s3.key.file="+filepath.Join(d, "key.pem"),
		// As AWS: a bucket that does not exist is an error, not created
		// by the first write into it.
		"-s3.autoCreateBucket=false",
	)
	cmd.Dir = d
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test binary that dies leaves no server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		s.tb.Fatalf("s3server: start %s: %v", s.bin, err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		logf.Close()
		close(s.exited)
	}()
	if s.starts > 1 {
		start := time.Now()
		s.waitWritable()
		s.tb.Logf("s3server: restarted, writable after %s", time.Since(start).Round(time.Millisecond))
	}
}

// Kill sends SIGKILL, as a crash or an OOM kill would, and waits for the
// process to be gone.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

// Stop sends SIGTERM and waits for the process to exit.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

func (s *Server) signal(sig syscall.Signal) {
	if !s.running() {
		return
	}
	start := time.Now()
	_ = s.cmd.Process.Signal(sig)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.tb.Logf("s3server: %s, gone after %s", sig, time.Since(start).Round(time.Millisecond))
}

func (s *Server) running() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// RotateCredentials replaces the server's identity with a new secret (the
// access key stays); it takes effect at the next Restart.
func (s *Server) RotateCredentials() {
	s.SecretKey = "rotated-" + strconv.FormatInt(time.Now().UnixNano(), 36)
}

// Log is the server's output so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "weed.log"))
	if len(b) > 8000 {
		b = b[len(b)-8000:]
	}
	return string(b)
}

// writeIdentities writes the -s3.config file: one identity allowed
// everything, so that unsigned or wrongly signed requests are refused.
func (s *Server) writeIdentities() error {
	type cred struct {
		AccessKey string `json:"accessKey"`
		SecretKey string `json:"secretKey"`
	}
	type identity struct {
		Name        string   `json:"name"`
		Credentials []cred   `json:"credentials"`
		Actions     []string `json:"actions"`
	}
	cfg := struct {
		Identities []identity `json:"identities"`
	}{[]identity{{Name: "quiesce", Credentials: []cred{{s.AccessKey, s.SecretKey}},
		Actions: []string{"Admin", "Read", "List", "Tagging", "Write"}}}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("s3server: identities: %w", err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "identities.json"), b, 0o600); err != nil {
		return fmt.Errorf("s3server: identities: %w", err)
	}
	return nil
}

// Client is an S3 client that trusts the server's CA and signs with the
// current credentials.
func (s *Server) Client() (*minio.Client, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CA.PEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return minio.New(s.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""), Secure: true, Transport: tr,
		Region: "us-east-1", MaxRetries: 1,
	})
}

// waitWritable returns once an object can be put into and removed from the
// bucket: the S3 port answers before the volume server has registered.
func (s *Server) waitWritable() {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.tb.Context()), StartTimeout)
	defer cancel()
	err := s.retry(ctx, "write a probe object into "+s.Bucket, func(ctx context.Context, c *minio.Client) error {
		const probe = ".s3server-probe"
		if _, err := c.PutObject(ctx, s.Bucket, probe, bytes.NewReader([]byte("probe")), 5, minio.PutObjectOptions{}); err != nil {
			return err
		}
		return c.RemoveObject(ctx, s.Bucket, probe, minio.RemoveObjectOptions{})
	})
	if err != nil {
		s.tb.Fatal(err)
	}
}

// retry runs op until it succeeds, the process exits or ctx ends.
func (s *Server) retry(ctx context.Context, what string, op func(context.Context, *minio.Client) error) error {
	c, err := s.Client()
	if err != nil {
		return fmt.Errorf("s3server: client: %w", err)
	}
	backoff := 50 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := op(actx, c)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("s3server: %s: weed exited (%v); its log:\n%s", what, s.waitErr, s.Log())
		case <-ctx.Done():
			return fmt.Errorf("s3server: %s: not ready within %s: %w; its log:\n%s", what, StartTimeout, err, s.Log())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// freePorts reserves one port per name on ip. They are released before
// weed binds them; weed's own defaults (port+10000 for gRPC, fixed ports
// for its extra listeners) would collide between tests.
func freePorts(ip string, names ...string) (map[string]int, error) {
	ports := map[string]int{}
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for _, n := range names {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("reserve a port for %s: %w", n, err)
		}
		ls = append(ls, l)
		ports[n] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
