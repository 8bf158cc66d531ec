package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// writerLine is one line of e2e/writer's file: its number and when it was
// written.
type writerLine struct {
	seq int
	at  time.Time
}

// parseWriterLog parses the writer's file and fails unless it is a
// complete prefix of what the writer writes: lines 1..n, each whole. A live
// file may end in the line being written: live drops it.
func parseWriterLog(t *testing.T, what, text string, live bool) []writerLine {
	t.Helper()
	if i := strings.LastIndexByte(text, '\n'); live {
		text = text[:i+1]
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		t.Fatalf("%s ends in a torn line %q", what, text[max(0, len(text)-30):])
	}
	var out []writerLine
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			t.Fatalf("%s line %d: %q is not whole", what, len(out)+1, sc.Text())
		}
		seq, err1 := strconv.Atoi(f[0])
		ns, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || seq != len(out)+1 {
			t.Fatalf("%s line %d: %q: want sequence number %d", what, len(out)+1, sc.Text(), len(out)+1)
		}
		out = append(out, writerLine{seq, time.Unix(0, ns)})
	}
	return out
}

// taskStatus is the containerd task status (RUNNING, PAUSED, ...) of a
// container on node, read from the node's containerd with ctr.
func taskStatus(ctx context.Context, c *cluster.Cluster, node, containerID string) (status string, pid int, err error) {
	sock := filepath.Join(c.State, "nodes", node, "run/containerd/containerd.sock")
	out, err := execOut(ctx, "ctr", "--address", sock, "-n", "k8s.io", "task", "ls")
	if err != nil {
		return "", 0, err
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == containerID {
			pid, _ := strconv.Atoi(f[1])
			return f[2], pid, nil
		}
	}
	return "", 0, fmt.Errorf("no task %s on %s", containerID, node)
}

// killAgentLoop kills (SIGKILL) node's agent process each time it appears
// until ctx ends; it returns how many times it killed it, and when first.
func killAgentLoop(ctx context.Context, node string) (kills int, first time.Time) {
	for ctx.Err() == nil {
		if n := killProcs(func(args []string) bool { return isAgent(args, node) }); n > 0 {
			if kills == 0 {
				first = time.Now()
			}
			kills += n
		}
		time.Sleep(20 * time.Millisecond)
	}
	return kills, first
}

func execOut(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func containerID(p *corev1.Pod, name string) string {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == name {
			return strings.TrimPrefix(s.ContainerID, "containerd://")
		}
	}
	return ""
}

// TestFreezeContainersWithoutAShell: backup.quiesce.dev/freeze:
// containers pauses the writer through the runtime. See testFreeze.
func TestFreezeContainersWithoutAShell(t *testing.T) { testFreeze(t, "containers") }

// TestFreezeFilesystemWithoutAShell: backup.quiesce.dev/freeze: filesystem
// freezes the writer's PersistentVolume, an ext4 filesystem of its own (a
// loop device mounted on the node), so its writes block. See testFreeze.
func TestFreezeFilesystemWithoutAShell(t *testing.T) { testFreeze(t, "filesystem") }

// loopPV mounts a fresh ext4 filesystem on node (in its mount namespace)
// and makes it a local PersistentVolume with a claim in ns.
func loopPV(t *testing.T, c *cluster.Cluster, ns, node string) string {
	t.Helper()
	dir := localPV(t, c, ns, node)
	img := "/var/lib/quiesce-e2e-pv/" + ns + ".img"
	ctx := context.WithoutCancel(t.Context())
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 128<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := execOut(ctx, "mkfs.ext4", "-q", "-F", img); err != nil {
		t.Fatal(out, err)
	}
	if _, err := c.OnNode(ctx, node, "mount", "-o", "loop,noatime", img, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := c.OnNode(ctx, node, "chmod", "0777", dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.OnNode(ctx, node, "fsfreeze", "--unfreeze", dir) // never leave the node with a frozen mount
		_, _ = c.OnNode(ctx, node, "umount", "-l", dir)
		_ = os.Remove(img)
	})
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr("qe2e-" + ns),
			VolumeName:       ns + "-db",
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
		},
	}
	if _, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns + "-db"
}

// testFreeze backs up an application that has no shell (e2e/writer in a
// scratch image) with backup.quiesce.dev/freeze: mode, through the chart.
// It is in a consistency group with a member whose pre-hook takes 6s, so
// it stays frozen at least that long.
//  1. The copy is a complete prefix of what it wrote, taken while it was
//     frozen: around the copy's last line the writer, which writes every
//     5ms, stalled for at least 5s.
//  2. kill -9 of the node's agent while the writer is frozen, again each
//     time it restarts, for 15s: the thaw guard thaws the writer while no
//     agent runs; the agent, once back, reports the pod failed with
//     AgentRestarted.
func testFreeze(t *testing.T, mode string) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qapp")
	repoDir := "/var/lib/quiesce-e2e-repos/" + sys
	installChart(t, c, sys, repoDir)

	grace := int64(1)
	writer := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "writer", Annotations: map[string]string{
			"backup.velero.io/backup-volumes": "data",
			"backup.quiesce.dev/freeze":       mode,
			"backup.quiesce.dev/group":        "g",
			"backup.quiesce.dev/order":        "1",
			"backup.quiesce.dev/max-freeze":   "2m",
		}},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": "node-a"},
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "app", Image: cluster.WriterImage, ImagePullPolicy: corev1.PullNever,
				Args:         []string{"/data/log", "5ms"},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
	volDir := "volumes/kubernetes.io~empty-dir/data"
	wantHooks := "pre:pause:app post:resume:app"
	if mode == "filesystem" {
		pv := loopPV(t, c, app, "node-a")
		writer.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}
		volDir = "volumes/kubernetes.io~local-volume/" + pv
		wantHooks = "pre:fsfreeze data: post:fsthaw data:"
	}
	slow := hookPod("slow", "node-b", map[string]string{
		"backup.velero.io/backup-volumes":    "data",
		"backup.quiesce.dev/group":           "g",
		"backup.quiesce.dev/order":           "2",
		"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","sleep 6"]`,
		"pre.hook.backup.velero.io/timeout":  "30s",
		"post.hook.backup.velero.io/command": stamp("thawed"),
	})
	createPods(t, c, app, writer, slow)
	wp, err := c.Client.CoreV1().Pods(app).Get(ctx, "writer", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The live file, read in the node's mount namespace (where the loop
	// filesystem is mounted); reads go on while it is frozen.
	liveLog := func() []writerLine {
		t.Helper()
		out, err := c.OnNode(ctx, "node-a", "cat", filepath.Join("/var/lib/kubelet/pods", string(wp.UID), volDir, "log"))
		if err != nil {
			t.Fatal(err)
		}
		return parseWriterLog(t, "the live log", out, true)
	}
	backup := func(name string) (api.Backup, error) {
		out, err := run(t, nil, "quiesce", "backup", "create", name, "--kubeconfig", c.Kubeconfig, "-n", sys, "--include-namespaces", app, "--wait")
		t.Logf("quiesce backup create %s:\n%s", name, out)
		var b api.Backup
		if gerr := apiClient(t, c).Get(context.WithoutCancel(ctx), client.ObjectKey{Namespace: sys, Name: name}, &b); gerr != nil {
			return b, gerr
		}
		return b, err
	}
	podResult := func(b api.Backup, name string) api.PodResult {
		for _, p := range podsOf(t, apiClient(t, c), &b) {
			if p.Name == name {
				return p
			}
		}
		t.Fatalf("backup %s has no result for pod %s: %+v", b.Name, name, podsOf(t, apiClient(t, c), &b))
		return api.PodResult{}
	}

	// 1. A clean backup.
	b, err := backup("freeze-1")
	if err != nil {
		logAgents(t, c, sys)
		t.Fatal(err)
	}
	res := podResult(b, "writer")
	if b.Status.Phase != api.BackupPhaseCompleted || res.Phase != api.PodCompleted || len(res.Volumes) != 1 {
		logAgents(t, c, sys)
		t.Fatalf("backup %s, writer %s %q: want both Completed", b.Status.Phase, res.Phase, res.Reason)
	}
	var kinds []string
	for _, h := range res.Hooks {
		kinds = append(kinds, h.Phase+":"+h.Name+":"+h.Container)
		if h.Error != "" {
			t.Errorf("writer %s %s: %s", h.Phase, h.Name, h.Error)
		}
	}
	if got := strings.Join(kinds, " "); got != wantHooks {
		t.Errorf("writer's hook results %q, want %q", got, wantHooks)
	}
	restored := t.TempDir()
	if out, err := run(t, []string{"QUIESCE_REPO_PASSWORD=e2e-password"}, "quiesce", "fs", "restore", res.Volumes[0].SnapshotID, restored,
		"--repo", repoDir, "--cache-dir", t.TempDir()); err != nil {
		t.Fatalf("fs restore: %v\n%s", err, out)
	}
	b2, err := os.ReadFile(filepath.Join(restored, "log"))
	if err != nil {
		t.Fatal(err)
	}
	copied := parseWriterLog(t, "the snapshot's log", string(b2), false)
	if len(copied) == 0 {
		t.Fatal("the snapshot's log is empty")
	}
	after := liveLog()
	k := len(copied)
	if len(after) < k+2 {
		t.Fatalf("the writer wrote nothing after the copy's line %d: it was not thawed", k)
	}
	// The writer stamps a line before writing it: under a filesystem freeze
	// the line after the copy's last may carry a time from before the
	// freeze, and the stall shows one line later.
	var stall time.Duration
	for i := k - 1; i <= k && i+1 < len(after); i++ {
		stall = max(stall, after[i+1].at.Sub(after[i].at))
	}
	t.Logf("copy ends at line %d; the writer stalled %s there (it writes every 5ms; the group's other member took 6s to freeze)", k, stall.Round(time.Millisecond))
	if stall < 5*time.Second {
		t.Errorf("the writer stalled only %s around the copy's last line %d: the copy was not taken while it was frozen", stall, k)
	}

	// 2. kill -9 of node-a's agent while the writer is frozen.
	done := make(chan error, 1)
	go func() {
		// The backup fails (its group lost a member): the CLI's error is
		// expected; the writer's result is what is checked.
		b, _ := backup("freeze-2")
		var err error
		for _, res := range podsOf(t, apiClient(t, c), &b) {
			if res.Name == "writer" && (res.Phase != api.PodFailed || res.Cause != api.CauseAgentRestarted || !strings.Contains(res.Reason, "thaw guard")) {
				err = fmt.Errorf("writer = %s %s %q: want Failed with cause AgentRestarted, thawed by the thaw guard", res.Phase, res.Cause, res.Reason)
			}
		}
		if len(podsOf(t, apiClient(t, c), &b)) == 0 {
			err = fmt.Errorf("backup freeze-2: %s, no pod results", b.Status.Phase)
		}
		done <- err
	}()
	// Frozen: the writer, which writes every 5ms, wrote nothing for 1s.
	last, lastChange := len(liveLog()), time.Now()
	if err := cluster.WaitFor(ctx, 90*time.Second, "the writer to be frozen", func(context.Context) (bool, string, error) {
		if n := len(liveLog()); n != last {
			last, lastChange = n, time.Now()
		}
		return time.Since(lastChange) > time.Second, fmt.Sprintf("%d lines", last), nil
	}); err != nil {
		t.Fatal(err)
	}
	if mode == "containers" {
		if st, _, err := taskStatus(ctx, c, "node-a", containerID(wp, "app")); err != nil || st != "PAUSED" {
			t.Fatalf("writer stalled, but its task is %s (%v), not PAUSED", st, err)
		}
	}
	// The agent is killed, and killed again each time the kubelet restarts
	// it, for longer than the thaw may take: the writer must be thawed
	// while no agent runs (by the thaw guard), not when the agent is back.
	kills := make(chan int, 1)
	loopCtx, endLoop := context.WithTimeout(ctx, 15*time.Second)
	defer endLoop()
	go func() { n, _ := killAgentLoop(loopCtx, "node-a"); kills <- n }()
	killed := time.Now()
	frozenAt := len(liveLog())
	if err := cluster.WaitFor(ctx, 2*time.Minute, "the writer to be thawed", func(context.Context) (bool, string, error) {
		n := len(liveLog())
		return n > frozenAt+10, fmt.Sprintf("%d lines", n), nil
	}); err != nil {
		logAgents(t, c, sys)
		t.Fatal(err)
	}
	thawedIn := time.Since(killed)
	if loopCtx.Err() != nil {
		t.Fatalf("the writer was thawed %s after the first kill, after the kill loop ended: not while the agent was down", thawedIn.Round(time.Millisecond))
	}
	endLoop()
	t.Logf("writer thawed %s after the agent was first killed, with the agent kept down (%d kills)", thawedIn.Round(time.Millisecond), <-kills)
	select {
	case err := <-done:
		if err != nil {
			logAgents(t, c, sys)
			t.Fatal(err)
		}
	case <-time.After(3 * time.Minute):
		t.Fatal("backup freeze-2 did not finish")
	}
}
