package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	"github.com/quiesce-dev/quiesce/internal/render"
)

// The fault matrix (issue 14): each fault, injected into real processes at
// each point of a pod's freeze, and the promises checked after it:
//  1. the pod is thawed (its post-hook ran; no hook process is left in it)
//     within maxFreeze + faultThawBound after the fault ends, and a pre-hook
//     cut off by the fault never does its freeze step after the thaw;
//  2. the Backup ends (Completed, PartiallyFailed or Failed, a failed pod
//     with a typed cause and a reason); nothing stays InProgress;
//  3. every snapshot the Backup records verifies (every file re-read from
//     the repository), and an earlier backup still restores byte for byte;
//  4. the node journal keeps no record of the pod once its result is
//     reported.
//
// make test runs a short subset; make test-faults (QUIESCE_FAULTS=all) runs
// the whole matrix and writes docs/reliability.md (QUIESCE_FAULTS_REPORT);
// QUIESCE_FAULTS=containerd runs the cells of the faults so named.

const (
	faultMaxFreeze  = 20 * time.Second
	faultThawBound  = 30 * time.Second
	faultHookSleep  = "4" // seconds a slow hook takes: the window the fault hits
	faultAppPayload = "payload"
)

// faultPoint is where in the freeze a fault is injected: the pod's hooks
// make the window, and the marker file the hook writes on entering it says
// the window is open.
type faultPoint struct {
	name   string
	ann    map[string]string
	marker string
	// phase, instead of a marker: the window is the pod's backup in this
	// phase, as its NodeBackup reports it; data makes it last.
	phase api.PodPhase
	data  func(t *testing.T, vol string)
}

var faultPoints = []faultPoint{
	{name: "pre-hook running", marker: "at-pre", ann: map[string]string{
		// "wait, then freeze": the freeze step must never run after the thaw.
		"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","touch /data/at-pre; sleep ` + faultHookSleep + `; read u _ < /proc/uptime; echo $u > /data/pre-done"]`,
		"post.hook.backup.velero.io/command": stamp("thawed"),
	}},
	{name: "held hook holding", marker: "held", ann: map[string]string{
		"pre.hook.backup.quiesce.dev/hooks": `[{"name": "hold", "mode": "Hold", "command": ["/bin/sh", "-c",
			"echo locked > /data/held; echo ready; cat; rm /data/held"], "hold": {"readyLine": "ready", "releaseTimeout": "5s"}},
			{"name": "slow", "command": ["/bin/sh", "-c", "sleep ` + faultHookSleep + `"]}]`,
		"post.hook.backup.velero.io/command": stamp("thawed"),
	}},
	{name: "post-hook running", marker: "at-post", ann: map[string]string{
		"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","true"]`,
		"post.hook.backup.velero.io/command": `["/bin/sh","-c","touch /data/at-post; sleep ` + faultHookSleep + `; read u _ < /proc/uptime; echo $u > /data/thawed"]`,
	}},
	// Inside the freeze, no hook running: the staged copy of 30,000 small
	// files takes seconds.
	{name: "capture running", phase: api.PodCapturing, data: manyFiles(30000), ann: map[string]string{
		"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","true"]`,
		"post.hook.backup.velero.io/command": stamp("thawed"),
	}},
	// After the thaw: the upload of those 30,000 files takes seconds too.
	// (An upload cap makes no dependable window: kopia's throttle lets a
	// minute's worth of bytes through at once after an idle minute.)
	{name: "upload running", phase: api.PodUploading, data: manyFiles(30000), ann: map[string]string{
		"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","true"]`,
		"post.hook.backup.velero.io/command": stamp("thawed"),
	}},
}

// manyFiles writes n small files into the volume at vol, from the host.
func manyFiles(n int) func(t *testing.T, vol string) {
	return func(t *testing.T, vol string) {
		for i := range n {
			dir := filepath.Join(vol, "many", strconv.Itoa(i/1000))
			if i%1000 == 0 {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), []byte(strconv.Itoa(i)+" "+faultAppPayload), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// fault is injected once its point is reached; it returns when the fault
// is over (the process killed, or stopped and continued).
type fault struct {
	name string
	// podGone: the fault removes the pod (and its volume): nothing is left
	// to thaw, the pod's backup must still end.
	podGone bool
	// appRestarts: the fault restarts the app's container, which thaws it
	// (a hook killed with it may never write its marker).
	appRestarts bool
	inject      func(ctx context.Context, t *testing.T, c *cluster.Cluster, cell faultTarget) string
}

var faults = []fault{
	{name: "agent kill -9", inject: func(ctx context.Context, t *testing.T, c *cluster.Cluster, _ faultTarget) string {
		return fmt.Sprintf("%d killed", killProcs(func(args []string) bool { return isAgent(args, "node-a") }))
	}},
	{name: "agent crash loop (kill -9 on every restart, 20s)", inject: func(ctx context.Context, t *testing.T, c *cluster.Cluster, _ faultTarget) string {
		lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		start := time.Now()
		n, first := killAgentLoop(lctx, "node-a")
		return fmt.Sprintf("%d kills, the first after %s", n, render.Duration(first.Sub(start)))
	}},
	{name: "coordinator kill -9", inject: func(ctx context.Context, t *testing.T, c *cluster.Cluster, cell faultTarget) string {
		return fmt.Sprintf("%d killed", killProcs(func(args []string) bool {
			return slices.Contains(args, "coordinator") && slices.Contains(args, "--backup="+cell.backup)
		}))
	}},
	{name: "kube-apiserver SIGSTOP 25s", inject: func(ctx context.Context, t *testing.T, c *cluster.Cluster, _ faultTarget) string {
		stopFor(ctx, t, filepath.Join(c.State, "run/kube-apiserver.pid"), 25*time.Second) // past maxFreeze
		return "stopped 25s"
	}},
	{name: "containerd restarted (kill -9, back after 3s)", inject: func(ctx context.Context, t *testing.T, c *cluster.Cluster, _ faultTarget) string {
		restartContainerd(ctx, t, c, "node-a", 3*time.Second)
		return "restarted"
	}},
	{name: "kubelet SIGSTOP 45s", inject: func(ctx context.Context, t *testing.T, c *cluster.Cluster, _ faultTarget) string {
		stopFor(ctx, t, filepath.Join(c.State, "run/kubelet-node-a.pid"), 45*time.Second)
		return "stopped 45s"
	}},
	{name: "app container killed (PID 1 kill -9, as by the OOM killer)", appRestarts: true, inject: func(ctx context.Context, t *testing.T, c *cluster.Cluster, cell faultTarget) string {
		p, err := c.Client.CoreV1().Pods(cell.app).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, pid, err := taskStatus(ctx, c, "node-a", containerID(p, "app"))
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		return "killed"
	}},
	{name: "pod deleted", podGone: true, inject: func(ctx context.Context, t *testing.T, c *cluster.Cluster, cell faultTarget) string {
		if err := c.Client.CoreV1().Pods(cell.app).Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		return "deleted"
	}},
	{name: "a second backup of the same pod started", inject: func(ctx context.Context, t *testing.T, c *cluster.Cluster, cell faultTarget) string {
		go func() {
			_, _ = run(t, nil, "quiesce", "backup", "create", cell.backup+"-twin", "--kubeconfig", c.Kubeconfig, "-n", cell.sys,
				"--include-namespaces", cell.app, "--wait")
		}()
		return "started"
	}},
}

// faultTarget is what a fault aims at: the cell's chart namespace, its app
// namespace (the pod "db") and its Backup.
type faultTarget struct{ sys, app, backup string }

// stopFor stops (SIGSTOP) the process in pidFile for d, then continues it.
func stopFor(ctx context.Context, t *testing.T, pidFile string, d time.Duration) {
	pid := readPID(t, pidFile)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT) //nolint:errcheck
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// readPID reads a process ID that hack/cluster/up.sh wrote.
func readPID(t *testing.T, pidFile string) int {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", pidFile, err)
	}
	return pid
}

// restartContainerd kills node's containerd (its containers keep running
// under their shims) and starts it again after down, as hack/cluster/up.sh
// does: in the node's mount and network namespaces.
func restartContainerd(ctx context.Context, t *testing.T, c *cluster.Cluster, node string, down time.Duration) {
	pidFile := filepath.Join(c.State, "run/containerd-"+node+".pid")
	if err := syscall.Kill(readPID(t, pidFile), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(down)
	logf, err := os.OpenFile(filepath.Join(c.State, "logs/containerd-"+node+".log"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("nsenter", "--mount="+c.MountNS(node), "--net=/run/netns/qe2e-"+node, "--",
		"containerd", "--config", filepath.Join(c.State, "nodes", node, "etc/containerd.toml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd of %s again: %v", node, err)
	}
	go cmd.Wait() //nolint:errcheck // it outlives the test, as up.sh's does
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(c.State, "nodes", node, "run/containerd/containerd.sock")
	if err := cluster.WaitFor(ctx, 30*time.Second, "containerd of "+node, func(ctx context.Context) (bool, string, error) {
		_, err := execOut(ctx, "ctr", "--address", sock, "version")
		return err == nil, errString(err), nil
	}); err != nil {
		t.Fatal(err)
	}
}

// isAgent: node's agent process (not its thaw guard: "agent guard ...").
func isAgent(args []string, node string) bool {
	i := slices.Index(args, "agent")
	return i >= 0 && i+1 < len(args) && args[i+1] == "--node="+node
}

// killProcs kills (SIGKILL) every process of the host whose command line
// matches, and returns how many.
func killProcs(match func(args []string) bool) int {
	n := 0
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if match(strings.Split(string(b), "\x00")) && syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}

type faultRow struct {
	fault, point, injected string
	thawedAfter            time.Duration // from the fault's start; 0: not thawed
	thawedBefore           bool          // thawed before the fault began
	outcome, pod           string
	data, leftovers        string
}

// thawed says when the pod was thawed, for the log and the table.
func (r faultRow) thawed() string {
	switch {
	case r.thawedBefore:
		return "(thawed before)"
	case r.thawedAfter < 0:
		return "(pod gone)"
	case r.thawedAfter > 0:
		return render.Duration(r.thawedAfter)
	}
	return "NOT THAWED"
}

func TestFaultMatrix(t *testing.T) {
	c := env(t)
	type cell struct {
		f fault
		p faultPoint
	}
	var cells []cell
	for _, f := range faults {
		for _, p := range faultPoints {
			cells = append(cells, cell{f, p})
		}
	}
	switch sel := os.Getenv("QUIESCE_FAULTS"); sel {
	case "all":
	case "":
		// The short subset in make test: the agent killed while a pre-hook
		// runs (the orphaned pre-hook), while a hold holds, during the
		// capture (thawed by the guard, nothing recorded) and during the
		// upload (resumed by the next agent process).
		cells = []cell{{faults[0], faultPoints[0]}, {faults[0], faultPoints[1]}, {faults[0], faultPoints[3]}, {faults[0], faultPoints[4]}}
	default: // the cells whose fault's name contains it (a re-run of one fault)
		cells = slices.DeleteFunc(cells, func(x cell) bool { return !strings.Contains(x.f.name, sel) })
	}
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	repoDir := "/var/lib/quiesce-e2e-repos/" + sys
	installChart(t, c, sys, repoDir)
	cl := apiClient(t, c)

	// A backup taken before any fault: it must still restore at the end.
	base := c.Namespace(t, "qbase")
	createPods(t, c, base, hookPod("base", "node-b", map[string]string{"backup.velero.io/backup-volumes": "data"}))
	if out, err := run(t, nil, "quiesce", "backup", "create", "baseline", "--kubeconfig", c.Kubeconfig, "-n", sys,
		"--include-namespaces", base, "--wait"); err != nil {
		t.Fatalf("baseline backup: %v\n%s", err, out)
	}
	var baseline api.Backup
	if err := cl.Get(ctx, client.ObjectKey{Namespace: sys, Name: "baseline"}, &baseline); err != nil || baseline.Status.Phase != api.BackupPhaseCompleted {
		t.Fatalf("baseline backup = %s (%v)", baseline.Status.Phase, err)
	}

	var rows []faultRow
	for i, x := range cells {
		row := runFaultCell(t, c, cl, sys, repoDir, fmt.Sprintf("fault-%d", i), x.f, x.p)
		t.Logf("%s at %s: injected %s; thawed: %s; backup %s; pod %s; data %s; leftovers %s",
			row.fault, row.point, row.injected, row.thawed(), row.outcome, row.pod, row.data, row.leftovers)
		rows = append(rows, row)
	}

	// 3. The earlier backup restores byte for byte after all the faults.
	dir := t.TempDir()
	snap := podsOf(t, cl, &baseline)[0].Volumes[0].SnapshotID
	if out, err := run(t, []string{"QUIESCE_REPO_PASSWORD=e2e-password"}, "quiesce", "fs", "restore", snap, dir,
		"--repo", repoDir, "--cache-dir", t.TempDir()); err != nil {
		t.Fatalf("restore of the baseline snapshot after the faults: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "payload")); strings.TrimSpace(string(b)) != faultAppPayload {
		t.Errorf("baseline snapshot restored payload %q, want %q", b, faultAppPayload)
	}
	if path := os.Getenv("QUIESCE_FAULTS_REPORT"); path != "" {
		if err := os.WriteFile(path, []byte(faultReport(rows)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runFaultCell backs up one pod, injects f once p's window opens, and
// checks the promises.
func runFaultCell(t *testing.T, c *cluster.Cluster, cl client.Client, sys, repoDir, name string, f fault, p faultPoint) faultRow {
	t.Helper()
	ctx := t.Context()
	row := faultRow{fault: f.name, point: p.name}
	freshAgent(t, c, sys, "node-a")
	app := c.Namespace(t, "qapp")
	ann := map[string]string{"backup.velero.io/backup-volumes": "data", "backup.quiesce.dev/max-freeze": faultMaxFreeze.String()}
	for k, v := range p.ann {
		ann[k] = v
	}
	pod := hookPod("db", "node-a", ann)
	createPods(t, c, app, pod)
	live, err := c.Client.CoreV1().Pods(app).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vol := filepath.Join(c.KubeletDir("node-a"), "pods", string(live.UID), "volumes/kubernetes.io~empty-dir/data")
	exists := func(f string) bool { _, err := os.Stat(filepath.Join(vol, f)); return err == nil }

	if p.data != nil {
		p.data(t, vol)
	}
	go func() { // the CLI's wait may fail with the fault; the Backup is read below
		_, _ = run(t, nil, "quiesce", "backup", "create", name, "--kubeconfig", c.Kubeconfig, "-n", sys, "--include-namespaces", app, "--wait")
	}()
	if err := cluster.WaitFor(ctx, 2*time.Minute, p.name, func(ctx context.Context) (bool, string, error) {
		if p.phase == "" {
			return exists(p.marker), "", nil
		}
		var nbs api.NodeBackupList
		if err := cl.List(ctx, &nbs, client.InNamespace(sys), client.MatchingLabels{api.LabelBackup: name}); err != nil {
			return false, err.Error(), nil
		}
		pods, _ := api.BackupReport(nil, nbs.Items)
		for _, r := range pods {
			if r.Name == "db" && r.Namespace == app {
				// A window passed by unseen would leave this waiting: say so.
				if r.Phase.Final() {
					return false, "", fmt.Errorf("the pod's backup ended %s before the window was seen", r.Phase)
				}
				return r.Phase == p.phase, string(r.Phase), nil
			}
		}
		return false, "pod not reported", nil
	}); err != nil {
		logAgents(t, c, sys)
		t.Fatalf("%s at %s: the window never opened: %v", f.name, p.name, err)
	}
	// 1. Thawed: the post-hook's marker, read from the node (no API), or
	// the container restarted by the fault; watched from the fault's start,
	// since some faults last longer than the thaw takes.
	thawed := func(ctx context.Context) bool {
		if exists("thawed") {
			return true
		}
		if f.appRestarts {
			p, err := c.Client.CoreV1().Pods(app).Get(ctx, "db", metav1.GetOptions{})
			return err == nil && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].RestartCount > 0 && p.Status.ContainerStatuses[0].Ready
		}
		return false
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	thawedAt := make(chan time.Time, 1)
	go func() {
		for watchCtx.Err() == nil {
			if thawed(watchCtx) {
				thawedAt <- time.Now()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	row.thawedBefore = exists("thawed") // the upload's window opens after the thaw
	start := time.Now()
	row.injected = f.inject(ctx, t, c, faultTarget{sys: sys, app: app, backup: name})
	ended := time.Now()
	switch {
	case f.podGone:
		row.thawedAfter = -1 // nothing left to thaw
	default:
		select {
		case at := <-thawedAt:
			row.thawedAfter = at.Sub(start)
		case <-time.After(time.Until(ended.Add(faultMaxFreeze + faultThawBound))):
			logAgents(t, c, sys)
			t.Errorf("%s at %s: not thawed within maxFreeze (%s) + %s after the fault ended", f.name, p.name, faultMaxFreeze, faultThawBound)
		}
	}
	stopWatch()

	// 2. The Backup ends.
	var b api.Backup
	if err := cluster.WaitFor(ctx, 4*time.Minute, "backup "+name+" to end", func(ctx context.Context) (bool, string, error) {
		if err := cl.Get(ctx, client.ObjectKey{Namespace: sys, Name: name}, &b); err != nil {
			return false, err.Error(), nil
		}
		return b.Status.Phase.Final(), string(b.Status.Phase), nil
	}); err != nil {
		logAgents(t, c, sys)
		t.Fatalf("%s at %s: %v", f.name, p.name, err)
	}
	// Nothing stays InProgress: a second backup the fault started ends too.
	if err := cluster.WaitFor(ctx, 4*time.Minute, "every backup to end", func(ctx context.Context) (bool, string, error) {
		var list api.BackupList
		if err := cl.List(ctx, &list, client.InNamespace(sys)); err != nil {
			return false, err.Error(), nil
		}
		for _, x := range list.Items {
			if !x.Status.Phase.Final() {
				return false, x.Name + " " + string(x.Status.Phase), nil
			}
		}
		return true, "", nil
	}); err != nil {
		t.Errorf("%s at %s: %v", f.name, p.name, err)
	}
	row.outcome = string(b.Status.Phase)
	for _, r := range podsOf(t, cl, &b) {
		row.pod = string(r.Phase)
		if r.Cause != "" {
			row.pod += " (" + string(r.Cause) + ")"
		}
		if r.Phase == api.PodFailed && (r.Cause == "" || r.Reason == "") {
			t.Errorf("%s at %s: pod failed without a cause and reason: %+v", f.name, p.name, r)
		}
	}

	// 1. A cut-off pre-hook never froze after the thaw.
	if exists("pre-done") && exists("thawed") {
		pre, _ := os.ReadFile(filepath.Join(vol, "pre-done"))
		thawed, _ := os.ReadFile(filepath.Join(vol, "thawed"))
		if a, b := uptime(t, strings.TrimSpace(string(pre))), uptime(t, strings.TrimSpace(string(thawed))); a > b {
			t.Errorf("%s at %s: the pre-hook's freeze step ran at %.2f, after the thaw at %.2f", f.name, p.name, a, b)
		}
	}
	// 3. Every snapshot it records verifies.
	row.data = "no snapshot"
	for _, r := range podsOf(t, cl, &b) {
		for _, v := range r.Volumes {
			if v.SnapshotID == "" {
				continue
			}
			out, err := run(t, []string{"QUIESCE_REPO_PASSWORD=e2e-password"}, "quiesce", "fs", "verify", v.SnapshotID,
				"--repo", repoDir, "--cache-dir", t.TempDir())
			if err != nil {
				t.Errorf("%s at %s: snapshot %s does not verify: %v\n%s", f.name, p.name, v.SnapshotID, err, out)
				row.data = "CORRUPT"
			} else {
				row.data = "verified"
			}
		}
	}
	// 4. Nothing left: no hook process in the pod, no journal record.
	var left []string
	if ps, err := c.Exec(ctx, app, "db", "app", nil, "ps", "-o", "args"); err == nil && !f.podGone {
		for _, l := range strings.Split(ps.Stdout, "\n") {
			if strings.Contains(l, "sleep "+faultHookSleep) || strings.TrimSpace(l) == "cat" {
				left = append(left, strings.TrimSpace(l))
			}
		}
	}
	journal := filepath.Join("/var/lib/quiesce-e2e-state", sys, "node-a", "journal", name+"_"+string(live.UID)+".json")
	if err := cluster.WaitFor(ctx, 30*time.Second, "the journal record to go", func(context.Context) (bool, string, error) {
		_, err := os.Stat(journal)
		return os.IsNotExist(err), "", nil
	}); err != nil {
		left = append(left, "journal record")
	}
	row.leftovers = "none"
	if len(left) > 0 {
		row.leftovers = strings.Join(left, ", ")
		t.Errorf("%s at %s: left behind: %s", f.name, p.name, row.leftovers)
	}
	return row
}

// faultReportLimits ends docs/reliability.md: what the matrix does not
// cover yet, and what earlier runs showed that a clean run may not.
const faultReportLimits = `
A thaw after an agent fault is the thaw guard's (a second container of the agent's pod that takes
the node lock when the agent is gone and thaws from the journal): sub-second where the kubelet's
restart back-off alone took 15-23 s, up to 5 minutes once the agent crash-loops. A post-hook cut
off by the fault runs again in full (post-hooks are at least once), hence the ~4 s rows.

Seen in earlier runs, not in every run: the agent killed while it was starting an exec leaves
containerd 1.6's shim for that container blocked for ~30 s; the thaw waits for it (it retries a
runtime that does not answer for up to a minute) and the pod is thawed ~30 s after the fault,
within the bound.

Storage faults are TestStorageFaults (e2e/storage_faults_test.go, in make test), on real
ext4 filesystems on loop devices shared by the host and the nodes: the staging area full (the
capture fails inside the freeze with the chart value to raise, the pod is thawed, the half copy is
removed), the repository full during the upload (after the thaw: the pod fails with
UploadFailed, "storage is full", the staged copy is kept for the next backup), the repository
read-only, a wrong repository password (the Backup fails before anything freezes, naming the
Secret key); once the storage is fixed the next backup completes and every snapshot verifies.
Staged copies of pods gone from the node are pruned by the agent (at start and every 10 minutes).

The S3 server killed (-9) mid-upload and back 5 s later is TestS3Repository (make test-e2e-s3):
the backup completes on kopia's retries and restores byte for byte. The coordinator killed (-9)
between two of its NodeBackup writes, with a pod added before its restart, is
TestCoordinatorKilledBetweenNodeBackupWrites (bench/simcluster, make test: a real API server,
60 nodes of real agent loops): every pod ends in exactly one NodeBackup, final; before the fix
the added pod was silently left out. Not covered yet: an S3 endpoint down for longer than
kopia's retries.
`

// faultReport is docs/reliability.md, generated by the suite.
func faultReport(rows []faultRow) string {
	var sb strings.Builder
	sb.WriteString(`# Reliability: the fault matrix

Generated by ` + "`make test-faults`" + ` (e2e/faults_test.go) on the local two-node cluster, through
the installed chart: one pod on node-a is backed up, and once its freeze reaches the point named,
the fault is injected into the real process. The pod's max freeze is ` + faultMaxFreeze.String() + `; a slow hook
takes ` + faultHookSleep + `s; the capture and upload windows are those of 30,000 small files (the upload
after the thaw). Checked after each run: the pod thawed (its post-hook ran, no hook process left in
it) within max freeze + ` + faultThawBound.String() + ` after the fault ended, and a cut-off pre-hook never froze after
the thaw; the Backup ended, a failed pod with a typed cause; every snapshot it records verifies
(` + "`quiesce fs verify`" + `: every file re-read from the repository); the node journal holds no record of
the pod once reported. At the end, a backup taken before all the faults restores byte for byte.

`)
	sb.WriteString("| fault | injected while | thawed after the fault began | backup | pod | snapshots | left behind |\n|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		thawed := r.thawed()
		fmt.Fprintf(&sb, "| %s (%s) | %s | %s | %s | %s | %s | %s |\n", r.fault, r.injected, r.point, thawed, r.outcome, r.pod, r.data, r.leftovers)
	}
	sb.WriteString(faultReportLimits)
	return sb.String()
}

// freshAgent replaces node's agent pod if an earlier cell's fault made it
// restart: the kubelet's restart back-off grows to 5 minutes across cells,
// which would measure the matrix's history, not the cell's fault.
func freshAgent(t *testing.T, c *cluster.Cluster, sys, node string) {
	t.Helper()
	ctx := t.Context()
	list, err := c.Client.CoreV1().Pods(sys).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=agent", FieldSelector: "spec.nodeName=" + node})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("agent pod on %s: %v (%d)", node, err, len(list.Items))
	}
	old := list.Items[0]
	restarted := slices.ContainsFunc(old.Status.ContainerStatuses, func(s corev1.ContainerStatus) bool { return s.RestartCount > 0 })
	if restarted {
		replaceAgent(t, c, sys, &old)
	}
}

// replaceAgent deletes the agent pod old and waits for its DaemonSet's
// next pod on the same node to be ready.
func replaceAgent(t *testing.T, c *cluster.Cluster, sys string, old *corev1.Pod) {
	t.Helper()
	ctx := t.Context()
	node := old.Spec.NodeName
	if err := c.Client.CoreV1().Pods(sys).Delete(ctx, old.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WaitFor(ctx, 2*time.Minute, "a fresh agent on "+node, func(ctx context.Context) (bool, string, error) {
		list, err := c.Client.CoreV1().Pods(sys).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=agent", FieldSelector: "spec.nodeName=" + node})
		if err != nil {
			return false, err.Error(), nil
		}
		for _, p := range list.Items {
			if p.UID != old.UID && cluster.PodReady(&p) {
				return true, "", nil
			}
		}
		return false, fmt.Sprintf("%d pods", len(list.Items)), nil
	}); err != nil {
		t.Fatal(err)
	}
}
