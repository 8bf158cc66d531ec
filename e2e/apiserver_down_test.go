package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// TestFreezePathWithoutAPIServer stops the kube-apiserver (SIGSTOP) while a
// pod's pre-hook runs: the agent still finishes the capture and runs the
// post-hook, and reports the results once the API server is back.
func TestFreezePathWithoutAPIServer(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qapp")
	installChart(t, c, sys, "/var/lib/quiesce-e2e-repos/"+sys)

	p := hookPod("db", "node-a", map[string]string{
		"backup.velero.io/backup-volumes":    "data",
		"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","touch /data/frozen; sleep 4"]`,
		"post.hook.backup.velero.io/command": stamp("thawed"),
	})
	if _, err := c.Client.CoreV1().Pods(app).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := c.WaitPod(ctx, app, "db", 2*time.Minute, cluster.PodReady)
	if err != nil {
		t.Fatal(err)
	}
	// The volume as the node sees it, read from the host: no API needed.
	vol := filepath.Join(c.KubeletDir("node-a"), "pods", string(pod.UID), "volumes/kubernetes.io~empty-dir/data")
	exists := func(name string) func(context.Context) (bool, string, error) {
		return func(context.Context) (bool, string, error) {
			_, err := os.Stat(filepath.Join(vol, name))
			return err == nil, name + ": " + errString(err), nil
		}
	}

	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := run(t, nil, "quiesce", "backup", "create", "e2e-3", "--kubeconfig", c.Kubeconfig, "-n", sys,
			"--include-namespaces", app, "--wait")
		done <- result{out, err}
	}()
	if err := cluster.WaitFor(ctx, 90*time.Second, "the pre-hook to start", exists("frozen")); err != nil {
		t.Fatal(err)
	}

	pidText, err := os.ReadFile(filepath.Join(c.State, "run/kube-apiserver.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatal(err)
	}
	resume := func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	t.Cleanup(resume) // whatever happens, the cluster gets its API server back
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitErr := cluster.WaitFor(ctx, 60*time.Second, "the post-hook with the API server stopped", exists("thawed"))
	thawedAfter := time.Since(stopped)
	// Prove the API server really was away while the pod was thawed.
	probeCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, probeErr := c.Client.CoreV1().Namespaces().Get(probeCtx, app, metav1.GetOptions{})
	cancel()
	resume()
	if waitErr != nil {
		t.Fatal(waitErr)
	}
	if probeErr == nil {
		t.Fatal("the API server answered while stopped: the test proves nothing")
	}
	t.Logf("post-hook ran %s after the API server was stopped", thawedAfter.Round(time.Millisecond))

	var r result
	select {
	case r = <-done:
	case <-time.After(3 * time.Minute):
		t.Fatal("backup did not finish after the API server came back")
	}
	t.Logf("quiesce backup create:\n%s", r.out)
	if r.err != nil {
		t.Fatalf("backup create: %v", r.err)
	}
	var b api.Backup
	if err := apiClient(t, c).Get(ctx, client.ObjectKey{Namespace: sys, Name: "e2e-3"}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Status.Phase != api.BackupPhaseCompleted || len(podsOf(t, apiClient(t, c), &b)) != 1 || len(podsOf(t, apiClient(t, c), &b)[0].Volumes) != 1 ||
		podsOf(t, apiClient(t, c), &b)[0].Volumes[0].SnapshotID == "" || len(podsOf(t, apiClient(t, c), &b)[0].Hooks) != 2 {
		t.Fatalf("backup = %s %+v: want Completed with both hooks and a snapshot, reported after the API server came back", b.Status.Phase, podsOf(t, apiClient(t, c), &b))
	}
}

func errString(err error) string {
	if err == nil {
		return "present"
	}
	return err.Error()
}
