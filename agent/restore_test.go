package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap/zaptest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/agent/kubeletpath"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/cri"
	crifake "github.com/quiesce-dev/quiesce/cri/fake"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/metrics"
)

// fakeRestorer writes a marker file per snapshot, or fails for the
// snapshots in fail.
type fakeRestorer struct {
	mu    sync.Mutex
	calls []string // snapshot=dir
	fail  map[string]error
}

func (f *fakeRestorer) Restore(_ context.Context, id, dir string, opt fsbackup.RestoreOptions) (fsbackup.RestoreResult, error) {
	f.mu.Lock()
	f.calls = append(f.calls, id+"="+dir)
	f.mu.Unlock()
	if !opt.Overwrite {
		return fsbackup.RestoreResult{}, errors.New("restore without Overwrite")
	}
	if err := f.fail[id]; err != nil {
		return fsbackup.RestoreResult{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, "from-"+id), []byte("data of "+id), 0o644); err != nil {
		return fsbackup.RestoreResult{}, err
	}
	return fsbackup.RestoreResult{Files: 1, Bytes: int64(len("data of " + id)), Duration: time.Millisecond}, nil
}

func (f *fakeRestorer) get() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

const restoreUID = "uid-db-0"

// restoreFixture is a restored pod db-0 (volumes "data", an emptyDir, and
// "db", a claim bound to pv-1 on CSI) under a temp kubelet root.
type restoreFixture struct {
	t    *testing.T
	root string
	c    client.WithWatch
	vols *fakeRestorer
	rt   *crifake.Runtime
	ev   *record.FakeRecorder
	r    *Restorer
	nr   *api.NodeRestore
	pod  *corev1.Pod
	// patience bounds waitFor; tests under synctest (fake time) raise it
	// above the durations they exercise.
	patience time.Duration
	// mounted are the mount points the agent sees: the CSI volume's.
	mounted mountSet
}

func newRestoreFixture(t *testing.T, withVolumes bool, hooks ...api.RestoreExecHookSpec) *restoreFixture {
	f := &restoreFixture{t: t, root: t.TempDir(), vols: &fakeRestorer{fail: map[string]error{}}, rt: crifake.New(), ev: record.NewFakeRecorder(100), patience: 20 * time.Second}
	f.pod = &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", UID: restoreUID},
		Spec: corev1.PodSpec{NodeName: "node-a", Volumes: []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "db", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "db-claim"}}},
			{Name: api.RestoreSignalVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-claim"}, Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1"}}
	vols := filepath.Join(f.root, "pods", restoreUID, "volumes")
	for _, d := range []string{
		filepath.Join(vols, kubeletpath.PluginEmptyDir, "data"),
		filepath.Join(vols, kubeletpath.PluginEmptyDir, api.RestoreSignalVolume),
		filepath.Join(vols, kubeletpath.PluginCSI, "pv-1", "mount"),
	} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	a := api.RestorePodAssignment{Namespace: "shop", Name: "db-0", UID: restoreUID, Hooks: hooks}
	if withVolumes {
		a.Volumes = []api.RestoreVolume{{Name: "data", SnapshotID: "k1"}, {Name: "db", SnapshotID: "k2"}}
		f.pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: api.RestoreWaitContainer,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	}
	f.nr = &api.NodeRestore{
		ObjectMeta: metav1.ObjectMeta{Namespace: "quiesce", Name: "r1-node-a", UID: "nr-uid",
			Labels: map[string]string{api.LabelNode: "node-a", api.LabelRestore: "r1"}},
		Spec: api.NodeRestoreSpec{RestoreName: "r1", NodeName: "node-a", Deadline: metav1.NewTime(time.Now().Add(time.Hour)),
			Pods: []api.RestorePodAssignment{a}},
	}
	s := runtime.NewScheme()
	_ = api.AddToScheme(s)
	_ = clientgoscheme.AddToScheme(s)
	f.c = fake.NewClientBuilder().WithScheme(s).WithObjects(f.nr, f.pod, pvc).WithStatusSubresource(&api.NodeRestore{}).Build()
	f.mounted = mountSet{filepath.Join(vols, kubeletpath.PluginCSI, "pv-1", "mount"): true}
	f.r = &Restorer{Node: "node-a", Namespace: "quiesce", Client: f.c, Volumes: f.vols, Runtime: f.rt, KubeletRoot: f.root,
		Mounts: func() (kubeletpath.MountPoints, error) { return f.mounted, nil }, Log: zaptest.NewLogger(t), Events: f.ev}
	return f
}

func (f *restoreFixture) container(name string, running bool) {
	f.rt.AddContainer(cri.ContainerRef{PodUID: restoreUID, PodNamespace: "shop", PodName: "db-0", Container: name}, running)
}

func (f *restoreFixture) signalPath() string {
	return filepath.Join(f.root, "pods", restoreUID, "volumes", kubeletpath.PluginEmptyDir, api.RestoreSignalVolume, api.RestoreSignalFile)
}

// start runs the restorer until the test ends.
func (f *restoreFixture) start() {
	ctx, cancel := context.WithCancel(f.t.Context())
	done := make(chan struct{})
	go func() { f.r.Run(ctx); close(done) }()
	f.t.Cleanup(func() { cancel(); <-done })
}

// setStatus changes the pod's app container status (the kubelet's part).
func (f *restoreFixture) setStatus(name string, running, ready bool) {
	f.t.Helper()
	var p corev1.Pod
	if err := f.c.Get(f.t.Context(), types.NamespacedName{Namespace: "shop", Name: "db-0"}, &p); err != nil {
		f.t.Fatal(err)
	}
	st := corev1.ContainerStatus{Name: name, Ready: ready}
	if running {
		st.State.Running = &corev1.ContainerStateRunning{}
	} else {
		st.State.Waiting = &corev1.ContainerStateWaiting{Reason: "PodInitializing"}
	}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{st}
	if err := f.c.Status().Update(f.t.Context(), &p); err != nil {
		f.t.Fatal(err)
	}
}

// waitFor watches the NodeRestore until cond holds.
func (f *restoreFixture) waitFor(what string, cond func(*api.NodeRestore) bool) *api.NodeRestore {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), f.patience)
	defer cancel()
	w, err := f.c.Watch(ctx, &api.NodeRestoreList{}, client.InNamespace("quiesce"))
	if err != nil {
		f.t.Fatal(err)
	}
	defer w.Stop()
	for {
		var nr api.NodeRestore
		if err := f.c.Get(ctx, client.ObjectKey{Namespace: "quiesce", Name: f.nr.Name}, &nr); err != nil {
			f.t.Fatal(err)
		}
		if cond(&nr) {
			return &nr
		}
		select {
		case <-w.ResultChan():
		case <-ctx.Done():
			f.t.Fatalf("noderestore never %s: %+v", what, nr.Status)
		}
	}
}

func (f *restoreFixture) waitDone() api.RestorePodResult {
	f.t.Helper()
	nr := f.waitFor("done", func(nr *api.NodeRestore) bool { return nr.Status.Done })
	if len(nr.Status.Pods) != 1 {
		f.t.Fatalf("status pods = %+v", nr.Status.Pods)
	}
	return nr.Status.Pods[0]
}

func (f *restoreFixture) events() []string {
	var out []string
	for {
		select {
		case e := <-f.ev.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func execHook(name, container string, onError api.HookErrorMode, cmd ...string) api.RestoreExecHookSpec {
	return api.RestoreExecHookSpec{ResolvedHook: api.ResolvedHook{Name: name, Source: "annotation post.hook.restore.velero.io/command",
		Container: container, Command: cmd, Timeout: metav1.Duration{Duration: 10 * time.Second}, OnError: onError},
		WaitTimeout: metav1.Duration{Duration: time.Minute}}
}

func TestRestoreVolumesThenSignalThenHook(t *testing.T) {
	f := newRestoreFixture(t, true, execHook("migrate", "app", api.HookErrorModeFail, "migrate"))
	f.container("app", true)
	// The hook checks that the pod was released before it ran.
	released := make(chan bool, 1)
	f.rt.Script([]string{"migrate"}, func(context.Context, crifake.Stdio) int {
		_, err := os.Stat(f.signalPath())
		released <- err == nil
		return 0
	})
	f.setStatus("app", true, false)
	m := metrics.NewAgent(prometheus.NewRegistry())
	f.r.Metrics = m
	f.start()
	pod := f.waitDone()

	if got := testutil.ToFloat64(m.RestoreBytes); got != float64(2*len("data of k1")) {
		t.Errorf("quiesce_volume_restore_bytes_total = %v", got)
	}
	var h dto.Metric
	if err := m.RestoreDuration.Write(&h); err != nil || h.GetHistogram().GetSampleCount() != 2 || testutil.ToFloat64(m.RestoreHooks.WithLabelValues("ok")) != 1 {
		t.Errorf("restore duration or hook outcome not observed")
	}
	if pod.Phase != api.RestorePodCompleted || pod.Reason != "" || pod.Node != "node-a" || pod.CompletionTime == nil {
		t.Errorf("pod = %+v", pod)
	}
	vols := filepath.Join(f.root, "pods", restoreUID, "volumes")
	want := []string{"k1=" + filepath.Join(vols, kubeletpath.PluginEmptyDir, "data"), "k2=" + filepath.Join(vols, kubeletpath.PluginCSI, "pv-1", "mount")}
	if got := f.vols.get(); !slices.Equal(got, want) {
		t.Errorf("restores = %v, want %v", got, want)
	}
	if len(pod.Volumes) != 2 || pod.Volumes[1].Name != "db" || pod.Volumes[1].Bytes != int64(len("data of k2")) || pod.Volumes[1].Error != "" {
		t.Errorf("volumes = %+v", pod.Volumes)
	}
	b, err := os.ReadFile(f.signalPath())
	var sig api.RestoreSignal
	if err != nil || json.Unmarshal(b, &sig) != nil || !sig.OK {
		t.Errorf("signal = %s (%v)", b, err)
	}
	if fi, err := os.Stat(f.signalPath()); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("signal file mode: %v %v", fi, err)
	}
	if len(pod.Hooks) != 1 || pod.Hooks[0].Phase != "post-restore" || pod.Hooks[0].Failed() || !<-released {
		t.Errorf("hooks = %+v (the hook must run after the signal)", pod.Hooks)
	}
	evs := strings.Join(f.events(), "\n")
	for _, want := range []string{"Normal RestoreVolumeRestored restore r1: volume data from snapshot k1: 1 files", "Normal RestoreHookRan restore r1: post-restore hook migrate"} {
		if !strings.Contains(evs, want) {
			t.Errorf("events lack %q:\n%s", want, evs)
		}
	}
}

func TestRestoreVolumeFailureSignalsTheReason(t *testing.T) {
	f := newRestoreFixture(t, true, execHook("migrate", "app", api.HookErrorModeContinue, "migrate"))
	f.container("app", true)
	f.vols.fail["k2"] = errors.New("restore of snapshot k2 into /x: no space left on device")
	f.start()
	pod := f.waitDone()

	if pod.Phase != api.RestorePodFailed || !strings.Contains(pod.Reason, "volume db: restore of snapshot k2 into /x: no space left on device") {
		t.Errorf("pod = %s: %s", pod.Phase, pod.Reason)
	}
	if len(f.vols.get()) != 2 {
		t.Errorf("every volume is attempted: %v", f.vols.get())
	}
	b, _ := os.ReadFile(f.signalPath())
	var sig api.RestoreSignal
	if err := json.Unmarshal(b, &sig); err != nil || sig.OK || sig.Reason != "volume db: restore of snapshot k2 into /x: no space left on device" {
		t.Errorf("signal = %s", b)
	}
	if len(pod.Hooks) != 1 || !pod.Hooks[0].Skipped || len(f.rt.Calls()) != 0 {
		t.Errorf("hooks must not run on a pod whose data was not restored: %+v, calls %v", pod.Hooks, f.rt.Calls())
	}
	if evs := strings.Join(f.events(), "\n"); !strings.Contains(evs, "Warning RestoreVolumeFailed restore r1: volume db from snapshot k2") {
		t.Errorf("events:\n%s", evs)
	}
}

// A CSI volume not mounted in the agent's view is not restored into: the
// data would land under the mount, hidden from the app.
func TestRestoreRefusesAnUnmountedCSIVolume(t *testing.T) {
	f := newRestoreFixture(t, true)
	f.mounted = mountSet{}
	f.container("app", true)
	f.start()
	pod := f.waitDone()
	if pod.Phase != api.RestorePodFailed || !strings.Contains(pod.Reason, "volume db: pod shop/db-0: volume \"db\"") ||
		!strings.Contains(pod.Reason, kubeletpath.ErrNotMounted.Error()) {
		t.Errorf("pod = %s: %s", pod.Phase, pod.Reason)
	}
	if got := f.vols.get(); len(got) != 1 {
		t.Errorf("restored %v: want only the emptyDir volume, not the unmounted CSI one", got)
	}
}

func TestRestorePodReplacedFails(t *testing.T) {
	f := newRestoreFixture(t, true)
	f.nr.Spec.Pods[0].UID = "uid-of-the-pod-the-restore-created"
	if err := f.c.Update(t.Context(), f.nr); err != nil {
		t.Fatal(err)
	}
	f.start()
	pod := f.waitDone()
	if pod.Phase != api.RestorePodFailed || !strings.Contains(pod.Reason, "it was recreated") || len(f.vols.get()) != 0 {
		t.Errorf("pod = %s: %s; restores %v", pod.Phase, pod.Reason, f.vols.get())
	}
}

func TestRestoreHookWaitsForRunningThenReady(t *testing.T) {
	running := execHook("after-running", "app", api.HookErrorModeFail, "h1")
	ready := execHook("after-ready", "app", api.HookErrorModeFail, "h2")
	ready.WaitForReady = true
	f := newRestoreFixture(t, false, running, ready)
	f.container("app", true)
	f.setStatus("app", false, false)
	f.start()

	waiting := func(hook string) func(*api.NodeRestore) bool {
		return func(nr *api.NodeRestore) bool {
			return len(nr.Status.Pods) == 1 && nr.Status.Pods[0].Phase == api.RestorePodWaitingContainer && strings.HasPrefix(nr.Status.Pods[0].Reason, "hook "+hook+":")
		}
	}
	f.waitFor("waiting for the container to run", waiting("after-running"))
	if n := len(f.rt.Calls()); n != 0 {
		t.Fatalf("%d hooks ran before the container ran", n)
	}
	f.setStatus("app", true, false)
	nr := f.waitFor("waiting for the container to be ready", waiting("after-ready"))
	if !strings.Contains(nr.Status.Pods[0].Reason, "to be ready") || f.rt.Ran([]string{"h1"}) != 1 || f.rt.Ran([]string{"h2"}) != 0 {
		t.Fatalf("reason %q, calls %v", nr.Status.Pods[0].Reason, f.rt.Calls())
	}
	f.setStatus("app", true, true)
	pod := f.waitDone()
	if pod.Phase != api.RestorePodCompleted || f.rt.Ran([]string{"h2"}) != 1 || len(pod.Hooks) != 2 {
		t.Errorf("pod = %+v", pod)
	}
}

// The sidecar never runs: its hook ends at waitTimeout (fake time), and
// onError Fail skips the next hook.
func TestRestoreHookWaitTimeoutAndOnErrorFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		never := execHook("warm-cache", "sidecar", api.HookErrorModeFail, "warm")
		never.WaitTimeout = metav1.Duration{Duration: 30 * time.Second}
		f := newRestoreFixture(t, false, never, execHook("migrate", "app", api.HookErrorModeFail, "migrate"))
		f.patience = time.Hour
		f.container("app", true)
		f.setStatus("app", true, true) // sidecar has no status: it never runs
		f.start()
		pod := f.waitDone()

		const want = "container sidecar not running after 30s (waitTimeout)"
		if pod.Phase != api.RestorePodPartiallyFailed || pod.Reason != "post-restore hook warm-cache in container sidecar: "+want {
			t.Errorf("pod = %s: %s", pod.Phase, pod.Reason)
		}
		if len(pod.Hooks) != 2 || !pod.Hooks[0].TimedOut || pod.Hooks[0].Error != want || pod.Hooks[0].Duration.Duration != 30*time.Second ||
			!pod.Hooks[1].Skipped || !strings.Contains(pod.Hooks[1].Output, `hook "warm-cache" failed and its onError is Fail`) {
			t.Errorf("hooks = %+v", pod.Hooks)
		}
		if len(f.rt.Calls()) != 0 {
			t.Errorf("calls = %v", f.rt.Calls())
		}
		if evs := strings.Join(f.events(), "\n"); !strings.Contains(evs, "Warning RestoreHookFailed restore r1: post-restore hook warm-cache in container sidecar: "+want) {
			t.Errorf("events:\n%s", evs)
		}
	})
}

func TestRestoreHookFailureContinues(t *testing.T) {
	f := newRestoreFixture(t, false, execHook("bad", "app", api.HookErrorModeContinue, "bad"), execHook("good", "app", api.HookErrorModeFail, "good"))
	f.container("app", true)
	f.rt.Script([]string{"bad"}, crifake.Output(3, "", "relation missing\n"))
	f.setStatus("app", true, true)
	f.start()
	pod := f.waitDone()
	if pod.Phase != api.RestorePodPartiallyFailed || !strings.Contains(pod.Reason, "exit code 3: relation missing") || f.rt.Ran([]string{"good"}) != 1 {
		t.Errorf("pod = %s: %s; hooks %+v", pod.Phase, pod.Reason, pod.Hooks)
	}
}

// A pod whose status is already final is not redone by a restarted agent.
func TestRestoreSkipsFinalPods(t *testing.T) {
	f := newRestoreFixture(t, true)
	f.nr.Status.Pods = []api.RestorePodResult{{Namespace: "shop", Name: "db-0", UID: restoreUID, Phase: api.RestorePodCompleted}}
	if err := f.c.Status().Update(t.Context(), f.nr); err != nil {
		t.Fatal(err)
	}
	// A second, unrelated NodeRestore shows the restorer is past the first.
	other := f.nr.DeepCopy()
	other.ObjectMeta = metav1.ObjectMeta{Namespace: "quiesce", Name: "r2-node-a", UID: "nr2", Labels: f.nr.Labels}
	other.Spec.RestoreName, other.Status = "r2", api.NodeRestoreStatus{}
	other.Spec.Pods[0].Volumes = nil
	if err := f.c.Create(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	f.start()
	f.nr = other
	f.waitDone()
	if got := f.vols.get(); len(got) != 0 {
		t.Errorf("final pod restored again: %v", got)
	}
}

// The wait init container never runs: the restore's deadline ends the wait,
// and the pod still gets a signal with the reason (not only its own timeout).
func TestRestoreDeadlineWhileWaitingForTheInitContainer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newRestoreFixture(t, true, execHook("migrate", "app", api.HookErrorModeFail, "migrate"))
		f.patience = time.Hour
		f.nr.Spec.Deadline = metav1.NewTime(time.Now().Add(10 * time.Minute))
		if err := f.c.Update(t.Context(), f.nr); err != nil {
			t.Fatal(err)
		}
		var p corev1.Pod
		_ = f.c.Get(t.Context(), types.NamespacedName{Namespace: "shop", Name: "db-0"}, &p)
		p.Status.InitContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}
		if err := f.c.Status().Update(t.Context(), &p); err != nil {
			t.Fatal(err)
		}
		m := metrics.NewAgent(prometheus.NewRegistry())
		f.r.Metrics = m
		f.start()
		pod := f.waitDone()
		want := "volume data not restored: the restore's deadline passed before init container quiesce-restore-wait of pod shop/db-0 ran"
		if pod.Phase != api.RestorePodFailed || pod.Reason != want || len(f.vols.get()) != 0 {
			t.Errorf("pod = %s: %q", pod.Phase, pod.Reason)
		}
		b, _ := os.ReadFile(f.signalPath())
		var sig api.RestoreSignal
		if err := json.Unmarshal(b, &sig); err != nil || sig.OK || sig.Reason != want {
			t.Errorf("signal = %s", b)
		}
		if n := testutil.ToFloat64(m.RestoreHooks.WithLabelValues("skipped")); n != 1 {
			t.Errorf("skipped hooks counted: %v", n)
		}
	})
}

// A restarted agent resumes a pod from its status: volumes restored and
// hooks that ran are not redone.
func TestRestoreResumesHooksFromStatus(t *testing.T) {
	f := newRestoreFixture(t, true, execHook("first", "app", api.HookErrorModeFail, "h1"), execHook("second", "app", api.HookErrorModeFail, "h2"))
	f.container("app", true)
	f.setStatus("app", true, true)
	f.nr.Status.Pods = []api.RestorePodResult{{Namespace: "shop", Name: "db-0", UID: restoreUID, Phase: api.RestorePodWaitingContainer,
		Volumes: []api.VolumeRestoreResult{{Name: "data", SnapshotID: "k1", Bytes: 7}, {Name: "db", SnapshotID: "k2", Bytes: 9}},
		Hooks:   []api.HookResult{{Name: "first", Phase: "post-restore", Container: "app", Output: "from the first agent"}}}}
	if err := f.c.Status().Update(t.Context(), f.nr); err != nil {
		t.Fatal(err)
	}
	f.start()
	pod := f.waitDone()
	if pod.Phase != api.RestorePodCompleted || len(f.vols.get()) != 0 || f.rt.Ran([]string{"h1"}) != 0 || f.rt.Ran([]string{"h2"}) != 1 {
		t.Errorf("pod %s: %s; restores %v, calls %v", pod.Phase, pod.Reason, f.vols.get(), f.rt.Calls())
	}
	if len(pod.Hooks) != 2 || pod.Hooks[0].Output != "from the first agent" || pod.Volumes[1].Bytes != 9 {
		t.Errorf("earlier results not kept: %+v", pod)
	}
}

// Post-restore hooks run at most once: a hook an earlier agent process
// started (the ledger says so) is not run again but reported failed with
// its outcome unknown; one that ended without its status written is
// reported from the ledger; the rest run. The entry goes once the pod's
// result is in status.
func TestRestoreHookStartedByAnEarlierAgentIsNotRunAgain(t *testing.T) {
	f := newRestoreFixture(t, true, execHook("first", "app", api.HookErrorModeContinue, "h1"),
		execHook("second", "app", api.HookErrorModeFail, "h2"), execHook("third", "app", api.HookErrorModeFail, "h3"))
	ledger, err := journal.OpenRestoreLedger(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.r.Ledger = ledger
	f.container("app", true)
	f.setStatus("app", true, true)
	f.nr.Status.Pods = []api.RestorePodResult{{Namespace: "shop", Name: "db-0", UID: restoreUID, Phase: api.RestorePodRunningHooks,
		Volumes: []api.VolumeRestoreResult{{Name: "data", SnapshotID: "k1"}}}}
	if err := f.c.Status().Update(t.Context(), f.nr); err != nil {
		t.Fatal(err)
	}
	nrUID := string(f.nr.UID)
	if err := ledger.Put(journal.PodRestore{NodeRestore: nrUID, PodUID: restoreUID, Started: map[int]string{0: "first", 1: "second"},
		Results: map[int]api.HookResult{1: {Name: "second", Phase: "post-restore", Container: "app", Output: "from the ledger"}}}); err != nil {
		t.Fatal(err)
	}
	f.start()
	pod := f.waitDone()
	if f.rt.Ran([]string{"h1"}) != 0 || f.rt.Ran([]string{"h2"}) != 0 || f.rt.Ran([]string{"h3"}) != 1 {
		t.Errorf("calls %v: want only the third hook run", f.rt.Calls())
	}
	if pod.Phase != api.RestorePodPartiallyFailed || len(pod.Hooks) != 3 || !pod.Hooks[0].Failed() ||
		!strings.Contains(pod.Hooks[0].Error, "its outcome is unknown and it is not run again") || pod.Hooks[1].Output != "from the ledger" {
		t.Errorf("pod %s (%s), hooks %+v", pod.Phase, pod.Reason, pod.Hooks)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		e, err := ledger.Get(nrUID, restoreUID)
		if err == nil && e.Started == nil && e.Results == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger entry left after the pod's result was in status: %+v (%v)", e, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A restarted agent that finds the pod released (its wait container done)
// restores nothing again and reports the volumes as the ledger recorded
// them, files and bytes included.
func TestRestoreReleasedPodReportsVolumesFromTheLedger(t *testing.T) {
	f := newRestoreFixture(t, true)
	ledger, err := journal.OpenRestoreLedger(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.r.Ledger = ledger
	f.pod.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: api.RestoreWaitContainer,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
	if err := f.c.Status().Update(t.Context(), f.pod); err != nil {
		t.Fatal(err)
	}
	want := []api.VolumeRestoreResult{{Name: "data", SnapshotID: "k1", Files: 3, Bytes: 7}, {Name: "db", SnapshotID: "k2", Files: 1, Bytes: 9}}
	if err := ledger.Put(journal.PodRestore{NodeRestore: string(f.nr.UID), PodUID: restoreUID, Volumes: want}); err != nil {
		t.Fatal(err)
	}
	f.start()
	pod := f.waitDone()
	if pod.Phase != api.RestorePodCompleted || len(f.vols.get()) != 0 || len(pod.Volumes) != 2 || pod.Volumes[0].Bytes != 7 || pod.Volumes[1].Files != 1 {
		t.Errorf("pod %s (%s), volumes %+v, restores %v: want the ledger's results and nothing restored", pod.Phase, pod.Reason, pod.Volumes, f.vols.get())
	}
}

// blockingRestorer blocks until ctx ends.
type blockingRestorer struct{ started chan struct{} }

func (b *blockingRestorer) Restore(ctx context.Context, _, _ string, _ fsbackup.RestoreOptions) (fsbackup.RestoreResult, error) {
	close(b.started)
	<-ctx.Done()
	return fsbackup.RestoreResult{}, ctx.Err()
}

// An agent stopping mid-restore neither fails the pod nor signals it: the
// next agent process restores it.
func TestRestoreAgentStopLeavesThePodToTheNextAgent(t *testing.T) {
	f := newRestoreFixture(t, true)
	b := &blockingRestorer{started: make(chan struct{})}
	f.r.Volumes = b
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { f.r.Run(ctx); close(done) }()
	<-b.started
	cancel()
	<-done
	if _, err := os.Stat(f.signalPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("signal written by a stopping agent: %v", err)
	}
	var nr api.NodeRestore
	_ = f.c.Get(t.Context(), client.ObjectKeyFromObject(f.nr), &nr)
	if nr.Status.Done || len(nr.Status.Pods) != 1 || nr.Status.Pods[0].Phase != api.RestorePodRestoringVolumes {
		t.Errorf("status = %+v", nr.Status)
	}
}
