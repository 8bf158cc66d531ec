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
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
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

// readWriterLog parses the writer's file and fails unless it is a complete
// prefix of what the writer writes: lines 1..n, each whole. A live file
// may end in the line being written: live drops it.
func readWriterLog(t *testing.T, path string, live bool) []writerLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.LastIndexByte(string(b), '\n'); live {
		b = b[:i+1]
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("%s ends in a torn line %q", path, b[max(0, len(b)-30):])
	}
	var out []writerLine
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			t.Fatalf("%s line %d: %q is not whole", path, len(out)+1, sc.Text())
		}
		seq, err1 := strconv.Atoi(f[0])
		ns, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || seq != len(out)+1 {
			t.Fatalf("%s line %d: %q: want sequence number %d", path, len(out)+1, sc.Text(), len(out)+1)
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

// TestFreezeContainersWithoutAShell backs up an application that has no
// shell (e2e/writer in a scratch image) with backup.quiesce.dev/freeze:
// containers, through the chart. It is in a consistency group with a
// member whose pre-hook takes 6s, so its pause lasts at least that long.
//  1. The copy is a complete prefix of what it wrote, taken while it was
//     paused: the line after the copy's last one was written at least 5s
//     later, and the writer writes every 5ms otherwise.
//  2. kill -9 of the node's agent while the writer is paused: the restarted
//     agent resumes it, and reports the pod failed with AgentRestarted.
func TestFreezeContainersWithoutAShell(t *testing.T) {
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
			"backup.quiesce.dev/freeze":       "containers",
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
	live := filepath.Join(c.KubeletDir("node-a"), "pods", string(wp.UID), "volumes/kubernetes.io~empty-dir/data/log")
	wid := containerID(wp, "app")

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
		for _, p := range b.Status.Pods {
			if p.Name == name {
				return p
			}
		}
		t.Fatalf("backup %s has no result for pod %s: %+v", b.Name, name, b.Status.Pods)
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
	if got := strings.Join(kinds, " "); got != "pre:pause:app post:resume:app" {
		t.Errorf("writer's hook results %q, want the pause and the resume of app", got)
	}
	restored := t.TempDir()
	if out, err := run(t, []string{"QUIESCE_REPO_PASSWORD=e2e-password"}, "quiesce", "fs", "restore", res.Volumes[0].SnapshotID, restored,
		"--repo", repoDir, "--cache-dir", t.TempDir()); err != nil {
		t.Fatalf("fs restore: %v\n%s", err, out)
	}
	copied := readWriterLog(t, filepath.Join(restored, "log"), false)
	if len(copied) == 0 {
		t.Fatal("the snapshot's log is empty")
	}
	after := readWriterLog(t, live, true)
	last := copied[len(copied)-1]
	if len(after) <= last.seq {
		t.Fatalf("the writer wrote nothing after the copy's line %d: it was not resumed", last.seq)
	}
	gap := after[last.seq].at.Sub(last.at)
	t.Logf("copy ends at line %d; the next line came %s later (the writer writes every 5ms; the group's other member took 6s to freeze)", last.seq, gap.Round(time.Millisecond))
	if gap < 5*time.Second {
		t.Errorf("line %d came %s after the copy's last line: the copy was not taken while the writer was paused", last.seq+1, gap)
	}

	// 2. kill -9 of node-a's agent while the writer is paused.
	done := make(chan error, 1)
	go func() {
		// The backup fails (its group lost a member): the CLI's error is
		// expected; the writer's result is what is checked.
		b, _ := backup("freeze-2")
		var err error
		for _, res := range b.Status.Pods {
			if res.Name == "writer" && (res.Phase != api.PodFailed || res.Cause != api.CauseAgentRestarted) {
				err = fmt.Errorf("writer = %s %s %q: want Failed with cause AgentRestarted", res.Phase, res.Cause, res.Reason)
			}
		}
		if len(b.Status.Pods) == 0 {
			err = fmt.Errorf("backup freeze-2: %s, no pod results", b.Status.Phase)
		}
		done <- err
	}()
	if err := cluster.WaitFor(ctx, 90*time.Second, "the writer to be paused", func(ctx context.Context) (bool, string, error) {
		st, _, err := taskStatus(ctx, c, "node-a", wid)
		return st == "PAUSED", st, err
	}); err != nil {
		t.Fatal(err)
	}
	agents, err := c.Client.CoreV1().Pods(sys).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=agent", FieldSelector: "spec.nodeName=node-a"})
	if err != nil || len(agents.Items) != 1 {
		t.Fatalf("agent on node-a: %v %d", err, len(agents.Items))
	}
	_, agentPID, err := taskStatus(ctx, c, "node-a", containerID(&agents.Items[0], "agent"))
	if err != nil || agentPID <= 0 {
		t.Fatalf("agent task: pid %d, %v", agentPID, err)
	}
	if err := syscall.Kill(agentPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 agent (pid %d): %v", agentPID, err)
	}
	killed := time.Now()
	t.Logf("killed the agent (pid %d) with the writer paused", agentPID)
	if err := cluster.WaitFor(ctx, 2*time.Minute, "the restarted agent to resume the writer", func(ctx context.Context) (bool, string, error) {
		st, _, err := taskStatus(ctx, c, "node-a", wid)
		return st == "RUNNING", st, err
	}); err != nil {
		logAgents(t, c, sys)
		t.Fatal(err)
	}
	t.Logf("writer resumed %s after the kill", time.Since(killed).Round(time.Millisecond))
	n := len(readWriterLog(t, live, true))
	if err := cluster.WaitFor(ctx, 30*time.Second, "the writer to write again", func(context.Context) (bool, string, error) {
		m := len(readWriterLog(t, live, true))
		return m > n, fmt.Sprintf("%d lines", m), nil
	}); err != nil {
		t.Fatal(err)
	}
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
