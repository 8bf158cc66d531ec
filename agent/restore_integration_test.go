package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/quiesce-dev/quiesce/agent/kubeletpath"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/cri/containerd"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/testenv"
)

// TestIntegrationRestoreIntoPod backs up a directory into a real kopia
// repository, then has the restorer fill a restored pod's volume (laid out
// as the kubelet lays it out, under a temp kubelet root) and run a
// post-restore hook through a real containerd in the pod's running
// container, which reads the restored data.
func TestIntegrationRestoreIntoPod(t *testing.T) {
	testenv.Integration(t)
	ctx := t.Context()
	src := t.TempDir()
	files := map[string]string{
		"hello.txt":          "restored bytes\n",
		"db/table.dat":       strings.Repeat("row of data\n", 20000),
		"db/empty":           "",
		"deep/a/b/c/leaf.md": "leaf\n",
	}
	for name, body := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	eng, err := fsbackup.Create(ctx, fsbackup.Config{Path: filepath.Join(t.TempDir(), "repo"), Password: "integration-pw", CacheDir: t.TempDir()}, fsbackup.Format{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(context.WithoutCancel(ctx))
	snap, err := eng.Backup(ctx, src, fsbackup.BackupOptions{Source: fsbackup.Source{Namespace: "shop", Workload: "statefulset/db", Volume: "data"}})
	if err != nil {
		t.Fatal(err)
	}

	// The restored pod: its data emptyDir already holds a stale file (a
	// restarted pod's leftovers), which the restore must remove.
	root, uid := t.TempDir(), "5f1c1a2e-0000-4000-8000-000000000001"
	vols := filepath.Join(root, "pods", uid, "volumes", kubeletpath.PluginEmptyDir)
	data, sigDir := filepath.Join(vols, "data"), filepath.Join(vols, api.RestoreSignalVolume)
	for _, d := range []string{data, sigDir} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(data, "stale"), []byte("not in the backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := env.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "db-0", UID: uid, Containers: []testenv.ContainerSpec{
		{Name: "app", Mounts: map[string]string{"/data": data}},
	}})
	rt, err := containerd.New(containerd.Options{Endpoint: env.Endpoint, FIFODir: env.FIFODir})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()

	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", UID: types.UID(uid)},
		Spec: corev1.PodSpec{NodeName: "node-a", Volumes: []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: api.RestoreSignalVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			InitContainerStatuses: []corev1.ContainerStatus{{Name: api.RestoreWaitContainer, State: running}},
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", State: running, Ready: true}}},
	}
	hook := api.RestoreExecHookSpec{ResolvedHook: api.ResolvedHook{Name: "check-data", Source: "annotation post.hook.restore.velero.io/command",
		Container: "app", Command: []string{"sh", "-c", "cat /data/hello.txt > /data/hook-saw; echo checked"},
		Timeout: metav1.Duration{Duration: 10 * time.Second}, OnError: api.HookErrorModeFail}, WaitTimeout: metav1.Duration{Duration: time.Minute}, WaitForReady: true}
	nr := &api.NodeRestore{
		ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "r1-node-a", UID: "nr-uid", Labels: map[string]string{api.LabelNode: "node-a", api.LabelRestore: "r1"}},
		Spec: api.NodeRestoreSpec{RestoreName: "r1", NodeName: "node-a", Deadline: metav1.NewTime(time.Now().Add(2 * time.Minute)),
			Pods: []api.RestorePodAssignment{{Namespace: "shop", Name: "db-0", UID: uid,
				Volumes: []api.RestoreVolume{{Name: "data", SnapshotID: snap.SnapshotID, Source: "shop/statefulset/db/data"}},
				Hooks:   []api.RestoreExecHookSpec{hook}}}},
	}
	s := runtime.NewScheme()
	_ = api.AddToScheme(s)
	_ = clientgoscheme.AddToScheme(s)
	c := fake.NewClientBuilder().WithScheme(s).WithObjects(nr, pod).WithStatusSubresource(&api.NodeRestore{}).Build()
	log := zaptest.NewLogger(t)
	r := &Restorer{Node: "node-a", Namespace: "quiesce", Client: c, Volumes: eng, Runtime: rt, KubeletRoot: root, Log: log, Logs: eng}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { r.Run(runCtx); close(done) }()
	got := waitRestoreDone(t, c, nr.Name, 2*time.Minute)
	cancel()
	<-done

	res := got.Status.Pods[0]
	if res.Phase != api.RestorePodCompleted {
		t.Fatalf("pod %s: %s\n%+v", res.Phase, res.Reason, res)
	}
	if len(res.Volumes) != 1 || res.Volumes[0].Files != int64(len(files)) || res.Volumes[0].Bytes != totalBytes(files) {
		t.Errorf("volumes = %+v, want %d files, %d bytes", res.Volumes, len(files), totalBytes(files))
	}
	t.Logf("restored %d files, %d bytes in %s", res.Volumes[0].Files, res.Volumes[0].Bytes, res.Volumes[0].Duration.Duration)
	var sig api.RestoreSignal
	if b, err := os.ReadFile(filepath.Join(sigDir, api.RestoreSignalFile)); err != nil || json.Unmarshal(b, &sig) != nil || !sig.OK {
		t.Errorf("signal = %s (%v)", b, err)
	}
	want := sums(t, src)
	want["hook-saw"] = sha(files["hello.txt"]) // the hook ran in the container on the restored data
	if gotSums := sums(t, data); !maps.Equal(gotSums, want) {
		t.Errorf("volume after restore:\n got %v\nwant %v", gotSums, want)
	}
	if h := res.Hooks; len(h) != 1 || h[0].Failed() || h[0].Phase != "post-restore" || h[0].Output != "checked" {
		t.Errorf("hooks = %+v", h)
	}
	if out, code := env.ExecSync(t, p, "app", "cat", "/data/db/empty", "/data/hello.txt"); code != 0 || out != files["hello.txt"] {
		t.Errorf("container sees %q (exit %d)", out, code)
	}
	logs, err := eng.Logs(ctx, RestoreLogName("r1"))
	if err != nil || len(logs) != 1 || logs[0].Key != "node-a/shop/db-0" || !strings.Contains(logs[0].Text, "hook post-restore check-data container=app exit 0") {
		t.Errorf("restore log in the repository = %+v (%v)", logs, err)
	}
}

func waitRestoreDone(t *testing.T, c client.WithWatch, name string, timeout time.Duration) *api.NodeRestore {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	w, err := c.Watch(ctx, &api.NodeRestoreList{}, client.InNamespace("quiesce"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for {
		var nr api.NodeRestore
		if err := c.Get(ctx, client.ObjectKey{Namespace: "quiesce", Name: name}, &nr); err != nil {
			t.Fatal(err)
		}
		if nr.Status.Done {
			return &nr
		}
		select {
		case <-w.ResultChan():
		case <-ctx.Done():
			t.Fatalf("noderestore %s not done: %+v", name, nr.Status)
		}
	}
}

func totalBytes(files map[string]string) int64 {
	var n int64
	for _, b := range files {
		n += int64(len(b))
	}
	return n
}

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// sums maps each regular file under dir to its SHA-256.
func sums(t *testing.T, dir string) map[string]string {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha(string(b))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
