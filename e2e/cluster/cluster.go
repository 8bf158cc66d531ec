// Package cluster connects e2e tests to the local two-node cluster that
// hack/cluster/up.sh brings up (etcd, kube-apiserver, controller-manager,
// scheduler, and per node containerd, kubelet and kube-proxy in their own
// network and mount namespaces). It treats the cluster as a black box: it
// only runs the bring-up script, reads the admin kubeconfig and the nodes'
// host directories.
package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Nodes are the worker nodes up.sh creates.
var Nodes = []string{"node-a", "node-b"}

// HostIP is the host's address on the nodes' bridge (hack/cluster/env.sh):
// a server the tests run on the host serves the pods there.
const HostIP = "198.18.240.1"

// Images are the locally built images every node has (no registry: pods use
// them with imagePullPolicy Never).
const (
	BusyboxImage = "docker.io/library/busybox:local"
	QuiesceImage = "docker.io/quiesce/quiesce:dev"
	// InClusterImage runs e2e/incluster (hack/images/gobin.sh).
	InClusterImage = "docker.io/quiesce/e2e-incluster:local"
	// WriterImage runs e2e/writer: no shell, nothing but the writer.
	WriterImage = "docker.io/quiesce/e2e-writer:local"
)

// Cluster is a running local cluster.
type Cluster struct {
	Kubeconfig string
	Config     *rest.Config
	Client     kubernetes.Interface
	// State is the host directory of the cluster (hack/cluster/env.sh STATE).
	State string
}

// RepoRoot returns the repository root (this file is e2e/cluster/cluster.go).
func RepoRoot() string {
	_, f, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(f), "..", ".."))
}

// Up runs hack/cluster/up.sh, which reuses a healthy running cluster and
// otherwise builds one, and connects to it. Setting QUIESCE_E2E_NO_UP=1 skips
// the script and only connects (to $KUBECONFIG or the default admin path).
func Up(ctx context.Context) (*Cluster, error) {
	root := RepoRoot()
	if os.Getenv("QUIESCE_E2E_NO_UP") != "1" {
		cmd := exec.CommandContext(ctx, filepath.Join(root, "hack/cluster/up.sh"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("hack/cluster/up.sh (needs root; logs under /var/lib/quiesce-e2e/logs): %w\n%s", err, out.String())
		}
	}
	kc := os.Getenv("KUBECONFIG")
	if kc == "" || strings.Contains(kc, string(os.PathListSeparator)) {
		kc = filepath.Join(root, ".cache/cluster/admin.kubeconfig")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w (run make cluster-up)", kc, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	state := os.Getenv("QUIESCE_E2E_STATE")
	if state == "" {
		state = "/var/lib/quiesce-e2e"
	}
	return &Cluster{Kubeconfig: kc, Config: cfg, Client: cs, State: state}, nil
}

// KubeletDir is the host directory that node sees as /var/lib/kubelet.
func (c *Cluster) KubeletDir(node string) string {
	return filepath.Join(c.State, "nodes", node, "kubelet")
}

// MountNS is the file of the node's mount namespace, for nsenter --mount.
func (c *Cluster) MountNS(node string) string {
	return filepath.Join(c.State, "ns", node+".mnt")
}

// OnNode runs a command in the node's mount namespace, where the standard
// paths (/var/lib/kubelet, /run/containerd/containerd.sock) are that node's.
func (c *Cluster) OnNode(ctx context.Context, node string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"--mount=" + c.MountNS(node), "--"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("on node %s: %s: %w: %s", node, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
