package testenv

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// KubeVersion is the Kubernetes release whose kube-apiserver the repository
// builds into .cache/k8s (tools/k8s).
const KubeVersion = "v1.37.2"

// KubeAPIOptions shape a KubeAPI. Zero ports are picked free.
type KubeAPIOptions struct {
	// Dir holds etcd's data, the keys and the logs.
	Dir string
	// EtcdPort, EtcdPeerPort and APIPort are loopback ports.
	EtcdPort, EtcdPeerPort, APIPort int
	// APIServer is the kube-apiserver binary; empty: $QUIESCE_KUBE_APISERVER,
	// else the repository's .cache/k8s build.
	APIServer string
	// RBAC turns authorization on (the chart's roles then apply to the
	// tokens of TokenUsers); off, every request is allowed.
	RBAC bool
	// TokenUsers are extra users, by token: "token,user,uid,group1,group2".
	TokenUsers []string
}

// AdminToken authenticates as a member of system:masters.
const AdminToken = "quiesce-test-admin"

// KubeAPI is a real etcd and kube-apiserver on loopback, without kubelets
// or controllers: for tests that need the API server's own behaviour
// (object size limits, watches, conflicts) and for the scale bench.
type KubeAPI struct {
	// Config authenticates as AdminToken.
	Config *rest.Config
	// URL is the API server's https address.
	URL   string
	procs []*exec.Cmd
}

// StartKubeAPI starts etcd and kube-apiserver and waits until the API
// server is ready. Stop ends both.
func StartKubeAPI(ctx context.Context, o KubeAPIOptions) (*KubeAPI, error) {
	bin, err := apiServerBinary(o.APIServer)
	if err != nil {
		return nil, err
	}
	for _, p := range []*int{&o.EtcdPort, &o.EtcdPeerPort, &o.APIPort} {
		if *p == 0 {
			if *p, err = freePort(); err != nil {
				return nil, err
			}
		}
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("kube-apiserver dir: %w", err)
	}
	keyFile := filepath.Join(o.Dir, "sa.key")
	if err := writeRSAKey(keyFile); err != nil {
		return nil, err
	}
	tokens := filepath.Join(o.Dir, "tokens.csv")
	lines := append([]string{AdminToken + ",admin,admin-uid,system:masters"}, o.TokenUsers...)
	if err := os.WriteFile(tokens, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	k := &KubeAPI{URL: fmt.Sprintf("https://127.0.0.1:%d", o.APIPort)}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", o.EtcdPort)
	etcd := exec.Command("etcd", "--data-dir", filepath.Join(o.Dir, "etcd"), "--name", "scale",
		"--listen-client-urls", etcdURL, "--advertise-client-urls", etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", o.EtcdPeerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", o.EtcdPeerPort),
		"--initial-cluster", fmt.Sprintf("scale=http://127.0.0.1:%d", o.EtcdPeerPort),
		// Watches of quiet resources need progress notifications: Debian's
		// etcd 3.4 cannot answer on-demand progress requests.
		"--experimental-watch-progress-notify-interval", "1s",
		"--quota-backend-bytes", strconv.Itoa(4<<30))
	if err := k.start(etcd, filepath.Join(o.Dir, "etcd.log")); err != nil {
		return nil, err
	}
	authz := "AlwaysAllow"
	if o.RBAC {
		authz = "RBAC"
	}
	apiserver := exec.Command(bin, "--etcd-servers", etcdURL,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(o.APIPort),
		"--cert-dir", filepath.Join(o.Dir, "certs"), "--token-auth-file", tokens, "--authorization-mode", authz,
		"--service-account-issuer", "https://kubernetes.default.svc", "--service-account-key-file", keyFile,
		"--service-account-signing-key-file", keyFile, "--service-cluster-ip-range", "10.96.0.0/16",
		"--disable-admission-plugins", "ServiceAccount", "--enable-priority-and-fairness=false", "--endpoint-reconciler-type", "none",
		"--max-requests-inflight", "2000", "--max-mutating-requests-inflight", "1000")
	if err := k.start(apiserver, filepath.Join(o.Dir, "kube-apiserver.log")); err != nil {
		k.Stop()
		return nil, err
	}
	k.Config = &rest.Config{Host: k.URL, BearerToken: AdminToken, TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS: -1, Burst: -1} // no client-side throttle: the server's limits are what is measured
	if err := k.waitReady(ctx); err != nil {
		k.Stop()
		return nil, fmt.Errorf("kube-apiserver: %w; its log ends:\n%s\netcd's log ends:\n%s", err,
			logTail(filepath.Join(o.Dir, "kube-apiserver.log")), logTail(filepath.Join(o.Dir, "etcd.log")))
	}
	return k, nil
}

// StartKubeAPITest is StartKubeAPI for an integration test: skipped unless
// QUIESCE_INTEGRATION=1, stopped when t ends.
func StartKubeAPITest(t testing.TB) *KubeAPI {
	t.Helper()
	Integration(t, "etcd")
	k, err := StartKubeAPI(t.Context(), KubeAPIOptions{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Stop)
	return k
}

// WriteKubeconfig writes a kubeconfig for the API server as AdminToken,
// with namespace as its default, into dir, for a child process (the
// quiesce CLI); it returns the file's path.
func (k *KubeAPI) WriteKubeconfig(dir, namespace string) (string, error) {
	path := filepath.Join(dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin, namespace: %s}}]
current-context: test
`, k.URL, AdminToken, namespace)
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// Stop ends the API server, then etcd.
func (k *KubeAPI) Stop() {
	for i := len(k.procs) - 1; i >= 0; i-- {
		p := k.procs[i]
		_ = p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	k.procs = nil
}

// PIDs are the process ids of etcd and kube-apiserver, for the bench's
// reports.
func (k *KubeAPI) PIDs() []int {
	var out []int
	for _, p := range k.procs {
		out = append(out, p.Process.Pid)
	}
	return out
}

func (k *KubeAPI) start(cmd *exec.Cmd, logFile string) error {
	f, err := os.Create(logFile)
	if err != nil {
		return fmt.Errorf("%s log: %w", filepath.Base(cmd.Path), err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	// Its own process group: a ^C to the test does not kill it before the
	// cleanup does, in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	k.procs = append(k.procs, cmd)
	return nil
}

func (k *KubeAPI) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	hc, err := rest.HTTPClientFor(k.Config)
	if err != nil {
		return err
	}
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, k.URL+"/readyz", nil)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", errors.Join(ctx.Err(), last))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// ApplyManifests creates the objects of the YAML files (multi-document),
// and waits for the CRDs among them to be established.
func ApplyManifests(ctx context.Context, c client.Client, files ...string) error {
	var crds []*unstructured.Unstructured
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(raw), "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
				continue
			}
			var m map[string]any
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if len(m) == 0 {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			if err := c.Create(ctx, u); err != nil {
				return fmt.Errorf("%s: create %s %s: %w", f, u.GetKind(), u.GetName(), err)
			}
			if u.GetKind() == "CustomResourceDefinition" {
				crds = append(crds, u)
			}
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, c, crd); err != nil {
			return err
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, c client.Client, crd *unstructured.Unstructured) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		cur := &unstructured.Unstructured{}
		cur.SetGroupVersionKind(crd.GroupVersionKind())
		if err := c.Get(ctx, client.ObjectKeyFromObject(crd), cur); err != nil {
			return fmt.Errorf("crd %s: %w", crd.GetName(), err)
		}
		conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
		for _, cd := range conds {
			if m, ok := cd.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("crd %s not established: %w", crd.GetName(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func apiServerBinary(bin string) (string, error) {
	if bin == "" {
		bin = os.Getenv("QUIESCE_KUBE_APISERVER")
	}
	if bin == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		bin = filepath.Join(root, ".cache", "k8s", KubeVersion, "bin", "kube-apiserver")
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("kube-apiserver %s: %w (make cluster-up builds it into .cache/k8s, or set QUIESCE_KUBE_APISERVER)", bin, err)
	}
	return bin, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func writeRSAKey(path string) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	der := x509.MarshalPKCS1PrivateKey(key)
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: der}), 0o600)
}

func logTail(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(raw[max(0, len(raw)-2048):])
}
