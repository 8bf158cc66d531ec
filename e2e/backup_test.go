package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// run runs a project binary (bin/NAME) and returns its combined output.
func run(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	return runCtx(t.Context(), env, name, args...)
}

// runCtx is run under ctx: a cleanup's (t.Context() is cancelled before
// cleanups run, so a command started with it is killed at once).
func runCtx(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(cluster.RepoRoot(), "bin", name), args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// installChart installs the chart into its own namespace with a
// repository and agent state of its own on the nodes, and uninstalls it
// when the test ends.
// extra helm arguments replace the default schedule (one that never fires).
func installChart(t *testing.T, c *cluster.Cluster, ns, repoDir string, extra ...string) {
	t.Helper()
	if len(extra) == 0 {
		extra = []string{"--set", "coordinator.schedules[0].name=nightly", "--set", "coordinator.schedules[0].schedule=0 0 1 1 *"}
	}
	applyCRDs(t, c)
	args := append([]string{"install", ns, filepath.Join(cluster.RepoRoot(), "charts/quiesce"), "--namespace", ns,
		"--kubeconfig", c.Kubeconfig, "--wait", "--timeout", "4m",
		"--set", "repository.password=e2e-password", "--set", "repository.filesystem.path=" + repoDir,
		"--set", "agent.stateDir=/var/lib/quiesce-e2e-state/" + ns, "--set", "image.pullPolicy=Never",
		"--set", "agent.logLevel=debug"}, extra...)
	// Another build of the image (e.g. a branch's, imported as
	// docker.io/quiesce/quiesce:<tag>) without touching the shared one.
	if tag := os.Getenv("QUIESCE_E2E_IMAGE_TAG"); tag != "" {
		args = append(args, "--set", "image.tag="+tag)
	}
	out, err := run(t, nil, "helm", args...)
	if err != nil {
		t.Fatalf("helm install: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logAgents(t, c, ns)
		}
		// Uninstalled for real: the release's cluster-scoped objects
		// (ClusterRoles, bindings, the isolation policy) outlive its namespace.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 2*time.Minute)
		defer cancel()
		if out, err := runCtx(ctx, nil, "helm", "uninstall", ns, "--namespace", ns, "--kubeconfig", c.Kubeconfig, "--wait"); err != nil {
			t.Logf("helm uninstall %s: %v\n%s", ns, err, out)
		}
		_ = os.RemoveAll(repoDir)
		_ = os.RemoveAll("/var/lib/quiesce-e2e-state/" + ns)
	})
}

var crdsOnce sync.Once

// applyCRDs brings the cluster's quiesce CRDs to the chart's (helm installs
// crds/ only when they are missing, and the cluster outlives test runs).
func applyCRDs(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	var err error
	crdsOnce.Do(func() {
		files, _ := filepath.Glob(filepath.Join(cluster.RepoRoot(), "charts/quiesce/crds/*.yaml"))
		crds := dynamic.NewForConfigOrDie(c.Config).Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
		for _, f := range files {
			var data []byte
			if data, err = os.ReadFile(f); err != nil {
				return
			}
			var u unstructured.Unstructured
			if err = yaml.Unmarshal(data, &u.Object); err != nil {
				err = fmt.Errorf("%s: %w", f, err)
				return
			}
			js, _ := u.MarshalJSON()
			force := true
			if _, err = crds.Patch(t.Context(), u.GetName(), types.ApplyPatchType, js, metav1.PatchOptions{FieldManager: "quiesce-e2e", Force: &force}); err != nil {
				err = fmt.Errorf("apply %s: %w", f, err)
				return
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hookPod is a busybox pod on node with a data volume and the given
// annotations.
func hookPod(name, node string, ann map[string]string) *corev1.Pod {
	grace := int64(1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": node},
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "app", Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"sh", "-c", "echo payload > /data/payload; exec sleep 2147483647"},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// createPods creates pods in ns and waits until all are Ready.
func createPods(t *testing.T, c *cluster.Cluster, ns string, pods ...*corev1.Pod) {
	t.Helper()
	ctx := t.Context()
	for _, p := range pods {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod %s/%s: %v", ns, p.Name, err)
		}
	}
	for _, p := range pods {
		if _, err := c.WaitPod(ctx, ns, p.Name, 2*time.Minute, cluster.PodReady); err != nil {
			t.Fatal(err)
		}
	}
}

// nothingCaptured: the pod's report holds no snapshot, and names each
// volume it holds no data of with an error (so a restore says so).
func nothingCaptured(p api.PodResult) bool {
	for _, v := range p.Volumes {
		if v.SnapshotID != "" || v.Error == "" {
			return false
		}
	}
	return true
}

// podsOf is a Backup's per-pod report, read from its NodeBackups: the
// Backup's status counts its pods and lists only the first failed ones.
func podsOf(t *testing.T, cl client.Client, b *api.Backup) []api.PodResult {
	t.Helper()
	var nbs api.NodeBackupList
	if err := cl.List(context.Background(), &nbs, client.InNamespace(b.Namespace), client.MatchingLabels{api.LabelBackup: b.Name}); err != nil {
		t.Fatalf("backup %s: list its nodebackups: %v", b.Name, err)
	}
	pods, _ := api.BackupReport(nil, nbs.Items)
	return pods
}

func apiClient(t *testing.T, c *cluster.Cluster) client.Client {
	// controller-runtime prints a stack trace into the test output when its
	// logger is never set; the tests read the API, not its logs.
	ctrllog.SetLogger(logr.Discard())
	s := runtime.NewScheme()
	if err := api.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(c.Config, client.Options{Scheme: s})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// TestBackupThroughChart installs the chart, backs up pods on both nodes
// through a Job made from the chart's CronJob, and checks from the data
// itself that pre-hooks ran before the capture and post-hooks after it,
// and that Fail and Continue behave as documented.
func TestBackupThroughChart(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qapp")
	repoDir := "/var/lib/quiesce-e2e-repos/" + sys
	installChart(t, c, sys, repoDir)

	pods := []*corev1.Pod{
		hookPod("db", "node-a", map[string]string{
			"backup.velero.io/backup-volumes":    "data",
			"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","echo frozen > /data/pre-marker"]`,
			"post.hook.backup.velero.io/command": `["/bin/sh","-c","echo thawed > /data/post-marker"]`,
		}),
		hookPod("strict", "node-b", map[string]string{
			"backup.velero.io/backup-volumes":    "data",
			"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","exit 7"]`,
			"post.hook.backup.velero.io/command": `["/bin/sh","-c","echo thawed > /data/post-marker"]`,
		}),
		hookPod("lenient", "node-b", map[string]string{
			"backup.velero.io/backup-volumes":    "data",
			"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","exit 3"]`,
			"pre.hook.backup.velero.io/on-error": "Continue",
			"post.hook.backup.velero.io/command": `["/bin/sh","-c","echo thawed > /data/post-marker"]`,
		}),
	}
	createPods(t, c, app, pods...)

	out, err := run(t, nil, "quiesce", "backup", "create", "e2e-1", "--kubeconfig", c.Kubeconfig, "-n", sys,
		"--include-namespaces", app, "--wait")
	t.Logf("quiesce backup create:\n%s", out)
	if err != nil {
		t.Fatalf("backup create: %v", err)
	}
	var b api.Backup
	if err := apiClient(t, c).Get(ctx, client.ObjectKey{Namespace: sys, Name: "e2e-1"}, &b); err != nil {
		t.Fatal(err)
	}
	if desc, err := run(t, nil, "quiesce", "backup", "describe", "e2e-1", "--details", "--kubeconfig", c.Kubeconfig, "-n", sys); err == nil {
		t.Logf("describe:\n%s", desc)
	}
	if b.Status.Phase != api.BackupPhasePartiallyFailed {
		t.Errorf("backup phase = %s, want PartiallyFailed (strict failed, the others completed)", b.Status.Phase)
	}
	byName := map[string]api.PodResult{}
	for _, p := range podsOf(t, apiClient(t, c), &b) {
		byName[p.Name] = p
	}
	db, strict, lenient := byName["db"], byName["strict"], byName["lenient"]
	if db.Phase != api.PodCompleted || db.Node != "node-a" || len(db.Volumes) != 1 || db.Volumes[0].SnapshotID == "" {
		t.Fatalf("db = %+v", db)
	}
	if strict.Phase != api.PodFailed || !strings.Contains(strict.Reason, "exit code 7") || !nothingCaptured(strict) {
		t.Errorf("strict = %+v: want failed by its pre-hook, nothing captured", strict)
	}
	if lenient.Phase != api.PodCompleted || len(lenient.Volumes) != 1 || lenient.Node != "node-b" {
		t.Errorf("lenient = %+v: want completed despite its Continue pre-hook", lenient)
	}
	if b.Status.HooksFailed != 2 {
		t.Errorf("hooks failed = %d, want 2", b.Status.HooksFailed)
	}
	// The Continue'd failure is named in the Backup's errors (it alone
	// would make the backup PartiallyFailed).
	if errs := strings.Join(b.Status.Errors, "\n"); !strings.Contains(errs, "pod "+app+"/lenient: pre hook") || !strings.Contains(errs, "onError is Continue") {
		t.Errorf("backup errors %q: want lenient's Continue'd pre-hook named", b.Status.Errors)
	}

	// The exporter serves the Backup's phase (through the API server's
	// service proxy, as Prometheus' Kubernetes discovery would reach it).
	metricsOut, err := c.Client.CoreV1().Services(sys).ProxyGet("http", sys+"-exporter-metrics", "9465", "/metrics", nil).DoRaw(ctx)
	if err != nil || !strings.Contains(string(metricsOut), `quiesce_backups{phase="PartiallyFailed"} 1`) {
		t.Errorf("exporter metrics (%v) lack quiesce_backups{phase=\"PartiallyFailed\"} 1:\n%s", err, metricsOut)
	}

	// Every pod whose pre-hooks ran was thawed: the post-hook marker is in
	// each live volume, the failed pod's included.
	for _, p := range pods {
		res, err := c.Exec(ctx, app, p.Name, "app", nil, "cat", "/data/post-marker")
		if err != nil || strings.TrimSpace(res.Stdout) != "thawed" {
			t.Errorf("pod %s: post-hook marker = %q (%v): the pod was not thawed", p.Name, res.Stdout, err)
		}
	}

	// From the data: the snapshot holds the pre-hook's marker, not the
	// post-hook's (the post-hook ran after the capture).
	restored := t.TempDir()
	pw := []string{"QUIESCE_REPO_PASSWORD=e2e-password"}
	if out, err := run(t, pw, "quiesce", "fs", "restore", db.Volumes[0].SnapshotID, restored, "--repo", repoDir,
		"--cache-dir", t.TempDir()); err != nil {
		t.Fatalf("fs restore: %v\n%s", err, out)
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(restored, name))
		return strings.TrimSpace(string(b))
	}
	if read("pre-marker") != "frozen" || read("payload") != "payload" {
		t.Errorf("snapshot of db lacks the pre-hook marker or the payload")
	}
	if read("post-marker") != "" {
		t.Errorf("snapshot of db holds the post-hook marker: the thaw ran before the capture ended")
	}
}

// logAgents logs the tail of every agent's log, for a failed test.
func logAgents(t *testing.T, c *cluster.Cluster, ns string) {
	ctx := context.WithoutCancel(t.Context())
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=agent"})
	if err != nil {
		return
	}
	tail := int64(80)
	for _, p := range pods.Items {
		for _, ct := range p.Spec.Containers { // the agent and its thaw guard
			b, err := c.Client.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: ct.Name, TailLines: &tail}).DoRaw(ctx)
			t.Logf("%s %s on %s (%v):\n%s", ct.Name, p.Name, p.Spec.NodeName, err, b)
		}
	}
}
