// Command bench-hooks measures, on the local cluster, the latency of a no-op
// hook (/bin/true) in a pod's container: run as the agent runs it (through
// the node's containerd, from the node's mount namespace), as raw CRI
// ExecSync, and as Velero runs it (exec through the API server, client-go
// remotecommand). Each is measured on a quiet cluster and while the API
// server serves a bounded burst of concurrent LIST requests. It prints p50
// and p95 and the ratios to API-server exec measured in the same run.
//
//	bench-hooks -kubeconfig .cache/cluster/admin.kubeconfig   (make bench-hooks)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/cri/containerd"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

func main() {
	var (
		kubeconfig = flag.String("kubeconfig", ".cache/cluster/admin.kubeconfig", "admin kubeconfig of the local cluster")
		state      = flag.String("state", "/var/lib/quiesce-e2e", "cluster state directory (node mount namespaces)")
		node       = flag.String("node", "node-a", "node to run the pod on")
		n          = flag.Int("n", 100, "runs per measurement")
		listers    = flag.Int("listers", 8, "concurrent LIST loops for the busy measurement")
		mode       = flag.String("mode", "", "internal: 'node' measures from inside the node's mount namespace")
		podUID     = flag.String("pod-uid", "", "internal: pod UID for -mode node")
		ctrID      = flag.String("container-id", "", "internal: CRI container ID for -mode node")
	)
	flag.Parse()
	ctx := context.Background()
	if *mode == "node" {
		if err := nodeSide(ctx, *podUID, *ctrID, *n); err != nil {
			fmt.Fprintln(os.Stderr, "bench-hooks (node side):", err)
			os.Exit(1)
		}
		return
	}
	if err := run(ctx, *kubeconfig, *state, *node, *n, *listers); err != nil {
		fmt.Fprintln(os.Stderr, "bench-hooks:", err)
		os.Exit(1)
	}
}

// nodeResult is what the node side reports, in milliseconds.
type nodeResult struct {
	Agent []float64 `json:"agent"`
	CRI   []float64 `json:"cri"`
}

// nodeSide runs in the node's mount namespace, where the containerd socket
// and its FIFO directory are the node's own, as they are for the agent.
func nodeSide(ctx context.Context, uid, ctrID string, n int) error {
	rt, err := containerd.New(containerd.Options{Endpoint: "/run/containerd/containerd.sock"})
	if err != nil {
		return err
	}
	defer rt.Close()
	conn, err := grpc.NewClient("unix:///run/containerd/containerd.sock", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	rs := runtimeapi.NewRuntimeServiceClient(conn)
	ref := cri.ContainerRef{PodUID: uid, PodNamespace: "qbench", PodName: "noop", Container: "main"}
	var res nodeResult
	for i := 0; i < n; i++ {
		t0 := time.Now()
		r, err := rt.Exec(ctx, ref, []string{"/bin/true"}, 10*time.Second)
		if err != nil || r.ExitCode != 0 {
			return fmt.Errorf("agent exec: %v (exit %d)", err, r.ExitCode)
		}
		res.Agent = append(res.Agent, ms(time.Since(t0)))
		t0 = time.Now()
		sr, err := rs.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: ctrID, Cmd: []string{"/bin/true"}, Timeout: 10})
		if err != nil || sr.ExitCode != 0 {
			return fmt.Errorf("cri ExecSync: %v", err)
		}
		res.CRI = append(res.CRI, ms(time.Since(t0)))
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func run(ctx context.Context, kubeconfig, state, node string, n, listers int) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c := &cluster.Cluster{Kubeconfig: kubeconfig, Config: cfg, Client: cs, State: state}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "qbench"}}
	_, _ = cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	defer cs.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), "qbench", metav1.DeleteOptions{}) //nolint:errcheck
	grace := int64(1)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "noop"}, Spec: corev1.PodSpec{
		NodeSelector: map[string]string{"kubernetes.io/hostname": node}, TerminationGracePeriodSeconds: &grace,
		Containers: []corev1.Container{{Name: "main", Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever, Command: []string{"sleep", "2147483647"}}},
	}}
	_ = cs.CoreV1().Pods("qbench").Delete(ctx, "noop", metav1.DeleteOptions{})
	err = cluster.WaitFor(ctx, time.Minute, "namespace qbench ready", func(ctx context.Context) (bool, string, error) {
		_, err := cs.CoreV1().Pods("qbench").Create(ctx, pod, metav1.CreateOptions{})
		return err == nil, fmt.Sprint(err), nil
	})
	if err != nil {
		return err
	}
	p, err := c.WaitPod(ctx, "qbench", "noop", 2*time.Minute, cluster.PodReady)
	if err != nil {
		return err
	}
	ctrID := p.Status.ContainerStatuses[0].ContainerID
	if i := len("containerd://"); len(ctrID) > i {
		ctrID = ctrID[i:]
	}

	quiet, err := measure(ctx, c, state, node, string(p.UID), ctrID, n)
	if err != nil {
		return err
	}
	stop, lists := listLoad(ctx, cs, listers)
	busy, err := measure(ctx, c, state, node, string(p.UID), ctrID, n)
	stop()
	if err != nil {
		return err
	}
	fmt.Printf("# bench-hooks: no-op hook (/bin/true), %d runs each, node %s\n\n", n, node)
	fmt.Println("| path | quiet p50 ms | quiet p95 ms | busy p50 ms | busy p95 ms | p50 / API exec, quiet | busy |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|")
	row := func(name string, q, b []float64) {
		fmt.Printf("| %s | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f |\n", name, pct(q, 50), pct(q, 95), pct(b, 50), pct(b, 95),
			pct(q, 50)/pct(quiet.api, 50), pct(b, 50)/pct(busy.api, 50))
	}
	row("quiesce agent (containerd task exec, process-tree kill)", quiet.Agent, busy.Agent)
	row("CRI ExecSync (raw)", quiet.CRI, busy.CRI)
	row("API-server exec (client-go remotecommand, as Velero)", quiet.api, busy.api)
	fmt.Printf("\nbusy: %d concurrent LIST loops (all pods, all namespaces), %d LIST requests served during the busy runs.\n", listers, lists.Load())
	return nil
}

type measurement struct {
	nodeResult
	api []float64
}

func measure(ctx context.Context, c *cluster.Cluster, state, node, uid, ctrID string, n int) (measurement, error) {
	var m measurement
	self, err := os.Executable()
	if err != nil {
		return m, err
	}
	cmd := exec.CommandContext(ctx, "nsenter", "--mount="+filepath.Join(state, "ns", node+".mnt"), "--",
		self, "-mode=node", "-pod-uid="+uid, "-container-id="+ctrID, fmt.Sprintf("-n=%d", n))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return m, fmt.Errorf("node side: %w", err)
	}
	if err := json.Unmarshal(out, &m.nodeResult); err != nil {
		return m, err
	}
	for i := 0; i < n; i++ {
		t0 := time.Now()
		r, err := c.Exec(ctx, "qbench", "noop", "main", nil, "/bin/true")
		if err != nil || r.ExitCode != 0 {
			return m, fmt.Errorf("api exec: %v", err)
		}
		m.api = append(m.api, ms(time.Since(t0)))
	}
	return m, nil
}

// listLoad keeps the API server busy with concurrent LISTs until stopped.
func listLoad(ctx context.Context, cs kubernetes.Interface, loops int) (func(), *atomic.Int64) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var count atomic.Int64
	for i := 0; i < loops; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err == nil {
					count.Add(1)
				}
			}
		}()
	}
	return func() { cancel(); wg.Wait() }, &count
}

func pct(v []float64, p float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
