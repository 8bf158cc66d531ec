package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/quiesce-dev/quiesce/agent/journal"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/cri/containerd"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/testenv"
)

var env *testenv.Containerd

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int { return testenv.RunMain(m, "quiesce-agent-", &env, nil) }

func sh(name, container, script string) api.ResolvedHook {
	return api.ResolvedHook{Name: name, Source: "annotation test", Container: container, Command: []string{"sh", "-c", script},
		Timeout: metav1.Duration{Duration: 10 * time.Second}, OnError: api.HookErrorModeFail, Mode: "Exec"}
}

// TestIntegrationPostHookAfterCapture runs the agent against a real
// containerd and a real kopia repository: the pre-hook's marker must be in
// the snapshot, the post-hook's must not (it ran after the capture), and a
// held flock must be held during the capture and free afterwards.
func TestIntegrationPostHookAfterCapture(t *testing.T) {
	testenv.Integration(t)
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "table.dat"), []byte("rows\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := env.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "db-0", Containers: []testenv.ContainerSpec{
		{Name: "db", Mounts: map[string]string{"/data": vol}},
	}})
	rt, err := containerd.New(containerd.Options{Endpoint: env.Endpoint, FIFODir: env.FIFODir})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	ctx := t.Context()
	repoDir := filepath.Join(t.TempDir(), "repo")
	eng, err := fsbackup.Create(ctx, fsbackup.Config{Path: repoDir, Password: "integration-pw", CacheDir: t.TempDir()}, fsbackup.Format{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.WithoutCancel(ctx))

	hold := api.ResolvedHook{Name: "lock", Source: "annotation test", Container: "db", Mode: "Hold",
		Command: []string{"flock", "/data/app.lock", "-c", "echo locked; cat"},
		Timeout: metav1.Duration{Duration: 10 * time.Second}, OnError: api.HookErrorModeFail,
		Hold: &api.ResolvedHoldSpec{ReadyLine: "locked", ReadyTimeout: metav1.Duration{Duration: 10 * time.Second}, ReleaseTimeout: metav1.Duration{Duration: 5 * time.Second}}}
	nb := &api.NodeBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "b1-node-a", Labels: map[string]string{api.LabelNode: "node-a", api.LabelBackup: "b1"}},
		Spec: api.NodeBackupSpec{BackupName: "b1", NodeName: "node-a", MaxFreeze: metav1.Duration{Duration: time.Minute}, CaptureMode: api.CaptureStaged,
			Pods: []api.PodAssignment{{Namespace: "shop", Name: "db-0", UID: p.UID,
				PreHooks: []api.ResolvedHook{
					sh("mark-pre", "db", "echo frozen > /data/pre-marker"),
					hold,
					// While held, a second locker must fail: the capture runs under the lock.
					sh("check-held", "db", "if flock -n /data/app.lock -c true; then echo lock-free > /data/held-check; else echo lock-held > /data/held-check; fi"),
				},
				PostHooks: []api.ResolvedHook{sh("mark-post", "db", "echo thawed > /data/post-marker")},
				Volumes:   []api.VolumeAssignment{{Name: "data", Source: "shop/pod/db-0/data", HostPath: vol}},
			}}},
	}
	s := runtime.NewScheme()
	_ = api.AddToScheme(s)
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(nb).WithStatusSubresource(&api.NodeBackup{}).Build()
	j, err := journal.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t)
	ag := &Agent{Node: "node-a", Namespace: "quiesce", Client: c, Journal: j,
		Hooks:        &CRIHooks{Runtime: rt, Log: log},
		Volumes:      &FSVolumes{Engine: eng, StagingRoot: t.TempDir(), Log: log},
		CaptureSlots: 1, Log: log, Logs: eng}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ag.Run(runCtx) }()
	got := waitDone(t, c, "b1-node-a", 2*time.Minute)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	pod := got.Status.Pods[0]
	if pod.Phase != api.PodCompleted {
		t.Fatalf("pod %s: %s\n%+v", pod.Phase, pod.Reason, pod.Hooks)
	}
	if len(pod.Volumes) != 1 || pod.Volumes[0].SnapshotID == "" {
		t.Fatalf("volumes = %+v", pod.Volumes)
	}
	if pod.Freeze == nil || pod.ControlOverhead == nil {
		t.Errorf("freeze window not measured: %+v", pod)
	}
	t.Logf("freeze window %s, control overhead %s", pod.Freeze.Duration, pod.ControlOverhead.Duration)

	restored := t.TempDir()
	if _, err := eng.Restore(ctx, pod.Volumes[0].SnapshotID, restored, fsbackup.RestoreOptions{Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	read := func(dir, name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return ""
		}
		return string(b)
	}
	if read(restored, "pre-marker") != "frozen\n" || read(restored, "table.dat") != "rows\n" {
		t.Errorf("snapshot lacks the pre-hook's marker or the data: %v", dirList(restored))
	}
	if read(restored, "post-marker") != "" {
		t.Errorf("snapshot has the post-hook's marker: the post-hook ran before the capture finished")
	}
	if read(restored, "held-check") != "lock-held\n" {
		t.Errorf("held-check = %q, want lock-held: the hold did not hold during the freeze", read(restored, "held-check"))
	}
	if read(vol, "post-marker") != "thawed\n" {
		t.Errorf("post-hook did not run on the live volume")
	}
	logs, err := eng.Logs(ctx, "b1")
	if err != nil || len(logs) != 1 || !strings.Contains(logs[0].Text, "hook pre mark-pre container=db exit 0") ||
		!strings.Contains(logs[0].Text, "hook post mark-post") || logs[0].Key != "node-a/shop/db-0" {
		t.Errorf("backup log in the repository = %+v (%v)", logs, err)
	}
	if out, code := env.ExecSync(t, p, "db", "flock", "-n", "/data/app.lock", "-c", "true"); code != 0 {
		t.Errorf("lock still held after the thaw (exit %d): %s", code, out)
	}
}

func dirList(dir string) []string {
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
