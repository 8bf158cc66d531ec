package restore

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/quiesce-dev/quiesce/internal/testenv"
)

// startAPIServer runs etcd and kube-apiserver on loopback for t (no
// controllers, no scheduler: the test plays those parts) and returns a
// client config with full rights. kube-apiserver comes from
// $QUIESCE_KUBE_APISERVER or the binaries `make k8s-bins` builds.
func startAPIServer(t *testing.T) *rest.Config {
	t.Helper()
	testenv.Integration(t, "etcd")
	apiserver, err := findAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	etcdPort, peerPort, apiPort := freePort(t), freePort(t), freePort(t)
	client := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peer := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	startDaemon(ctx, t, dir, "ready to serve client requests", "etcd", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", "default="+peer)

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	saKey := filepath.Join(dir, "sa.key")
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokens, []byte("restore-test-token,admin,admin,system:masters\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(ctx, t, dir, "Serving securely on", apiserver, "--etcd-servers", client,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", fmt.Sprint(apiPort),
		"--cert-dir", filepath.Join(dir, "certs"), "--token-auth-file", tokens, "--authorization-mode", "AlwaysAllow",
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", saKey,
		"--service-account-signing-key-file", saKey, "--service-cluster-ip-range", "198.18.0.0/24",
		"--endpoint-reconciler-type", "none",
		// No controller-manager makes the default service accounts.
		"--disable-admission-plugins", "ServiceAccount")

	cfg := &rest.Config{Host: fmt.Sprintf("https://127.0.0.1:%d", apiPort), BearerToken: "restore-test-token",
		TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc := cs.Discovery().RESTClient()
	// Serving is not ready: its post-start hooks (CRDs, RBAC bootstrap)
	// report through /readyz, which has no watch.
	var last error
	err = wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		last = rc.Get().AbsPath("/readyz").Do(ctx).Error()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("kube-apiserver not ready: %v (last: %v); logs in %s", err, last, dir)
	}
	return cfg
}

func findAPIServer() (string, error) {
	if p := os.Getenv("QUIESCE_KUBE_APISERVER"); p != "" {
		return p, nil
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		return "", err
	}
	found, _ := filepath.Glob(filepath.Join(root, ".cache", "k8s", "*", "bin", "kube-apiserver"))
	if len(found) == 0 {
		return "", fmt.Errorf("no kube-apiserver under %s/.cache/k8s: run `make k8s-bins` (or set QUIESCE_KUBE_APISERVER)", root)
	}
	sort.Strings(found)
	return found[len(found)-1], nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDaemon starts bin with its log in dir, waits for the line that
// says it serves, and stops it when t ends.
func startDaemon(ctx context.Context, t *testing.T, dir, readyLine, bin string, args ...string) {
	t.Helper()
	name := filepath.Base(bin)
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout = logf
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	ready, exited := make(chan struct{}), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !seen && strings.Contains(sc.Text(), readyLine) {
				seen = true
				close(ready)
			}
		}
		_, _ = io.Copy(logf, stderr)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		logf.Close()
	})
	select {
	case <-ready:
	case err := <-exited:
		exited <- err
		t.Fatalf("%s exited while starting (%v); log: %s", name, err, logf.Name())
	case <-ctx.Done():
		t.Fatalf("%s did not say %q in time; log: %s", name, readyLine, logf.Name())
	}
}
