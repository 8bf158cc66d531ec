package simcluster_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/bench/simcluster"
)

// The coordinator process killed (-9) between its NodeBackup writes, as
// its Job's pod may be: the restarted process plans again, and by then a
// pod has been added on a node whose NodeBackup was already written. The
// backup must end with every pod in exactly one NodeBackup and final:
// none lost, none assigned twice. Real API server, the quiesce binary as
// the Job runs it, 60 nodes of real agent loops (fake runtime and volumes).
func TestCoordinatorKilledBetweenNodeBackupWrites(t *testing.T) {
	k, s, c, root := startAPI(t)
	ctx := t.Context()
	dir := t.TempDir()
	bin := filepath.Join(dir, "quiesce")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/quiesce")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the quiesce binary: %v\n%s", err, out)
	}
	l := simcluster.Plan(simcluster.Spec{Nodes: 60, Pods: 180, Seed: 3})
	if err := simcluster.Populate(ctx, c, l); err != nil {
		t.Fatal(err)
	}
	timing := simcluster.Realistic
	timing.Scale = 0.05
	agents, err := simcluster.StartAgents(ctx, l, simcluster.AgentOptions{Config: k.Config, Scheme: s, Timing: timing,
		CaptureSlots: 2, StateDir: filepath.Join(dir, "agents"), Log: zaptest.NewLogger(t).Named("agent"), Trace: simcluster.NewTrace()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = agents.Stop() })
	kubeconfig, err := k.WriteKubeconfig(dir, simcluster.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	b := simcluster.NewBackup("killed", l, metav1.Duration{Duration: 5 * time.Minute})
	if err := c.Create(ctx, b); err != nil {
		t.Fatal(err)
	}
	coordinator := func(run int) *exec.Cmd {
		cmd := exec.CommandContext(ctx, bin, "coordinator", "--backup", b.Name, "--kubeconfig", kubeconfig, "-n", simcluster.Namespace,
			"--agent-selector", "app=quiesce-agent", "--timeout", "4m",
			"--repo", filepath.Join(dir, "repo"), "--cache-dir", filepath.Join(dir, "cache", string(rune('0'+run))))
		cmd.Env = append(os.Environ(), "QUIESCE_REPO_PASSWORD=kill-test")
		logf, err := os.Create(filepath.Join(dir, "coordinator-"+string(rune('0'+run))+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logf.Close() })
		cmd.Stdout, cmd.Stderr = logf, logf
		return cmd
	}
	nodeBackups := func() []api.NodeBackup {
		var list api.NodeBackupList
		if err := c.List(ctx, &list, client.InNamespace(simcluster.Namespace), client.MatchingLabels{api.LabelBackup: b.Name}); err != nil {
			t.Fatal(err)
		}
		return list.Items
	}

	// Run 1, killed once a few of its NodeBackups exist (it writes them
	// at its 50 requests a second: over a second for 60 nodes).
	first := coordinator(1)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	var written []api.NodeBackup
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if written = nodeBackups(); len(written) >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first coordinator wrote no NodeBackup in 2 minutes")
		}
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	written = nodeBackups()
	var got api.Backup
	if err := c.Get(ctx, client.ObjectKeyFromObject(b), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Planned {
		t.Fatalf("the coordinator wrote all %d NodeBackups before it was killed: the window between the writes was missed", len(written))
	}
	t.Logf("coordinator killed with %d NodeBackups written", len(written))

	// Meanwhile a pod comes up on a node whose NodeBackup stands.
	node := ""
	for _, nb := range written {
		if nb.Spec.NodeName != "" {
			node = nb.Spec.NodeName
			break
		}
	}
	if node == "" {
		t.Fatal("no node's NodeBackup written before the kill")
	}
	late := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: l.Pods[0].Namespace, Name: "late-0",
		Annotations: map[string]string{"backup.velero.io/backup-volumes": "data"}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "sim"}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}}}
	if err := c.Create(ctx, late); err != nil {
		t.Fatal(err)
	}
	late.Status.Phase = corev1.PodRunning
	if err := c.Status().Update(ctx, late); err != nil {
		t.Fatal(err)
	}

	// Run 2, as the Job restarts its pod: to the end.
	if err := coordinator(2).Run(); err != nil {
		t.Logf("second coordinator: %v (a backup not Completed exits non-zero)", err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(b), &got); err != nil {
		t.Fatal(err)
	}
	nbs := nodeBackups()
	in := map[string][]string{} // pod UID -> NodeBackups holding it
	for _, nb := range nbs {
		for _, a := range nb.Spec.Pods {
			in[a.UID] = append(in[a.UID], nb.Name)
		}
		for _, r := range nb.Spec.Results {
			in[r.UID] = append(in[r.UID], nb.Name)
		}
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, p := range pods.Items {
		if p.Namespace == simcluster.Namespace {
			continue // the agents' own pods
		}
		want++
		if n := len(in[string(p.UID)]); n != 1 {
			t.Errorf("pod %s/%s is in %d NodeBackups %v, want exactly 1", p.Namespace, p.Name, n, in[string(p.UID)])
		}
	}
	report, done := api.BackupReport(nil, nbs)
	if !done || !got.Status.Phase.Final() || got.Status.PodCounts.Total != want {
		t.Fatalf("backup %s, every pod final %v, counts %+v: want final with %d pods", got.Status.Phase, done, got.Status.PodCounts, want)
	}
	for _, r := range report {
		if r.Name == "late-0" && r.Phase != api.PodCompleted {
			t.Errorf("the pod added between the runs: %s (%s), want Completed", r.Phase, r.Reason)
		}
	}
	t.Logf("backup %s after the kill: %d NodeBackups (%d before it), pods %+v", got.Status.Phase, len(nbs), len(written), got.Status.PodCounts)
}
