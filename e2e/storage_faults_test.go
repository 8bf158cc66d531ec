package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// TestStorageFaults (issue 14): the storage under a backup fails, on real
// filesystems: the node's staging area full (a small tmpfs under the
// agent's state directory), the repository full and then read-only (a
// tmpfs remounted), and a chart installed with the wrong repository
// password. Each backup ends with a reason that names the fault and its
// fix; a pod that was frozen is thawed (its post-hook ran); nothing is
// left in the staging area; earlier snapshots still verify; and once the
// storage is fixed the next backup completes.
func TestStorageFaults(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qsto")
	repoDir := "/var/lib/quiesce-e2e-repos/" + sys
	staging := filepath.Join("/var/lib/quiesce-e2e-state", sys, "node-a", "staging")
	// Mounted before the chart: the agents' hostPath mounts take them along.
	sharedFS(t, c, repoDir, 128, "node-a", "node-b")
	sharedFS(t, c, staging, 160, "node-a")
	installChart(t, c, sys, repoDir)
	kc := apiClient(t, c)

	pod := hookPod("db", "node-a", map[string]string{
		"backup.velero.io/backup-volumes":    "data",
		"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","touch /data/frozen"]`,
		"post.hook.backup.velero.io/command": `["/bin/sh","-c","rm /data/frozen; date +%s > /data/thawed"]`,
	})
	createPods(t, c, app, pod)
	write := func(file, size string) {
		t.Helper()
		if res, err := c.Exec(ctx, app, "db", "app", nil, "sh", "-c", "head -c "+size+" /dev/urandom > /data/"+file); err != nil || res.ExitCode != 0 {
			t.Fatalf("write %s: %v %+v", file, err, res)
		}
	}
	thawed := func(when string) {
		t.Helper()
		res, err := c.Exec(ctx, app, "db", "app", nil, "sh", "-c", "test ! -e /data/frozen && test -s /data/thawed && rm /data/thawed")
		if err != nil || res.ExitCode != 0 {
			t.Errorf("%s: the pod is not thawed (its post-hook did not run): %v %+v", when, err, res)
		}
	}
	backup := func(name string) *api.Backup {
		t.Helper()
		out, _ := run(t, nil, "quiesce", "backup", "create", name, "--kubeconfig", c.Kubeconfig, "-n", sys, "--include-namespaces", app, "--wait")
		var b api.Backup
		if err := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: name}, &b); err != nil {
			t.Fatalf("backup %s: %v\n%s", name, err, out)
		}
		if !b.Status.Phase.Final() {
			t.Fatalf("backup %s: %s after --wait\n%s", name, b.Status.Phase, out)
		}
		t.Logf("backup %s: %s %v\n%s", name, b.Status.Phase, b.Status.Errors, out)
		return &b
	}
	failedWith := func(b *api.Backup, cause api.FailureCause, words ...string) {
		t.Helper()
		p := findPod(podsOf(t, kc, b), app, "db")
		if p == nil || p.Phase != api.PodFailed || p.Cause != cause {
			t.Errorf("backup %s: pod %+v: want Failed with cause %s", b.Name, p, cause)
			return
		}
		for _, w := range words {
			if !strings.Contains(p.Reason, w) {
				t.Errorf("backup %s: reason %q does not say %q", b.Name, p.Reason, w)
			}
		}
	}
	verifyAll := func(bs ...*api.Backup) {
		t.Helper()
		for _, b := range bs {
			for _, p := range podsOf(t, kc, b) {
				for _, v := range p.Volumes {
					if v.SnapshotID == "" {
						continue
					}
					out, err := run(t, []string{"QUIESCE_REPO_PASSWORD=e2e-password"}, "quiesce", "fs", "verify", v.SnapshotID,
						"--repo", repoDir, "--cache-dir", t.TempDir())
					if err != nil {
						t.Errorf("backup %s: snapshot %s does not verify: %v\n%s", b.Name, v.SnapshotID, err, out)
					}
				}
			}
		}
	}
	stagingEmpty := func(when string) {
		t.Helper()
		ents, err := os.ReadDir(staging)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() != "lost+found" && e.Name() != "ballast" {
				t.Errorf("%s: the staging area keeps %s", when, e.Name())
			}
		}
	}

	// A first backup fits everywhere.
	write("small", "100000")
	first := backup("first")
	if first.Status.Phase != api.BackupPhaseCompleted {
		t.Fatalf("first backup %s: %v", first.Status.Phase, first.Status.Errors)
	}
	thawed("first")

	// 1. The staging area cannot hold the copy: the capture fails inside
	// the freeze, the pod is thawed, the half copy is gone. (The staging
	// keeps 64 MiB free: 2 MiB more are left.)
	freeStaging := fill(t, staging, 66<<20)
	write("big", "3000000")
	b := backup("staging-full")
	failedWith(b, api.CauseCapture, "staging area", "full", "agent.stateDir")
	thawed("staging full")
	stagingEmpty("staging full")

	// 2. The repository fills up during the upload (after the thaw).
	freeStaging()
	freeRepo := fill(t, repoDir, 16<<20)
	write("big", "30000000")
	full := backup("repo-full")
	failedWith(full, api.CauseUpload, "repository", "space")
	thawed("repository full")

	// 3. The repository is read-only. A running container keeps its own
	// bind mount (a remount of the filesystem itself is refused while the
	// agents use it): the agent restarts onto the read-only mount, as after
	// a node reboot with the storage mounted read-only.
	freeRepo()
	readOnly(t, c, repoDir, true, "node-a", "node-b")
	restartAgent(t, c, sys, "node-a")
	ro := backup("repo-read-only")
	if ro.Status.Phase == api.BackupPhaseCompleted {
		t.Errorf("backup to a read-only repository: %s", ro.Status.Phase)
	}
	if p := findPod(podsOf(t, kc, ro), app, "db"); p != nil {
		failedWith(ro, api.CauseUpload, "read-only")
		thawed("repository read-only")
	} else if len(ro.Status.Errors) == 0 || !strings.Contains(strings.Join(ro.Status.Errors, " "), "read-only") {
		t.Errorf("backup to a read-only repository: errors %q: want the repository named read-only", ro.Status.Errors)
	}

	// Fixed: the next backup completes, and every snapshot verifies.
	readOnly(t, c, repoDir, false, "node-a", "node-b")
	restartAgent(t, c, sys, "node-a")
	again := backup("fixed")
	if again.Status.Phase != api.BackupPhaseCompleted {
		t.Errorf("backup after the storage was fixed: %s %v", again.Status.Phase, again.Status.Errors)
	}
	thawed("fixed")
	verifyAll(first, again)

	// 4. The wrong repository password (the coordinator run here, with its
	// own password): the backup fails before anything freezes, saying
	// which setting to fix.
	out, err := run(t, []string{"QUIESCE_REPO_PASSWORD=not-the-password"}, "quiesce", "backup", "create", "wrong-password", "--run-here",
		"--repo", repoDir, "--cache-dir", t.TempDir(), "--kubeconfig", c.Kubeconfig, "-n", sys, "--include-namespaces", app)
	t.Logf("backup create with the wrong password (%v):\n%s", err, out)
	var wp api.Backup
	if err := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: "wrong-password"}, &wp); err != nil {
		t.Fatal(err)
	}
	msg := strings.Join(wp.Status.Errors, " ")
	if wp.Status.Phase != api.BackupPhaseFailed || !strings.Contains(msg, "invalid repository password") || !strings.Contains(msg, "repository-password") ||
		!strings.Contains(msg, "nothing was frozen") || wp.Status.NodeBackupCount != 0 {
		t.Errorf("wrong password: %s, errors %q, %d node backups: want Failed before anything froze, naming the setting", wp.Status.Phase, wp.Status.Errors, wp.Status.NodeBackupCount)
	}
	if res, err := c.Exec(ctx, app, "db", "app", nil, "sh", "-c", "test -e /data/frozen || test -e /data/thawed"); err == nil && res.ExitCode == 0 {
		t.Error("wrong password: the pod's hooks ran")
	}
	verifyAll(first, again)
}

// sharedFS makes an ext4 filesystem of mb MiB on a loop device and mounts
// it at dir on the host and in each node's mount namespace (the host's
// mounts do not reach them): one filesystem, which fills up, or turns
// read-only, for every process at once.
func sharedFS(t *testing.T, c *cluster.Cluster, dir string, mb int, nodes ...string) {
	t.Helper()
	ctx := context.WithoutCancel(t.Context())
	img := dir + ".img"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	must := func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return strings.TrimSpace(out)
	}
	must("", os.WriteFile(img, nil, 0o600))
	must("", os.Truncate(img, int64(mb)<<20))
	must(execOut(ctx, "mkfs.ext4", "-q", "-F", "-m", "0", img))
	dev := must(execOut(ctx, "losetup", "--find", "--show", img))
	must(execOut(ctx, "mount", dev, dir))
	for _, n := range nodes {
		must(c.OnNode(ctx, n, "mkdir", "-p", dir))
		must(c.OnNode(ctx, n, "mount", dev, dir))
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			_, _ = c.OnNode(ctx, n, "umount", "-l", dir)
		}
		_, _ = execOut(ctx, "umount", "-l", dir)
		_, _ = execOut(ctx, "losetup", "-d", dev)
		_ = os.Remove(img)
	})
}

// fill takes the free space of dir's filesystem but leave bytes with a
// ballast file (allocated, not sparse), as other data would; the returned
// func frees it.
func fill(t *testing.T, dir string, leave int64) (free func()) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	size := int64(st.Bavail)*st.Bsize - leave
	if size <= 0 {
		t.Fatalf("%s: %d bytes free, want more than %d", dir, int64(st.Bavail)*st.Bsize, leave)
	}
	ballast := filepath.Join(dir, "ballast")
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		t.Fatalf("fallocate %s: %v", ballast, err)
	}
	return func() {
		t.Helper()
		if err := os.Remove(ballast); err != nil {
			t.Fatal(err)
		}
	}
}

// readOnly turns every mount of dir (the host's and the nodes') read-only
// or back: the mounts' flag, as an administrator's remount does.
func readOnly(t *testing.T, c *cluster.Cluster, dir string, ro bool, nodes ...string) {
	t.Helper()
	opt := "remount,bind,rw"
	if ro {
		opt = "remount,bind,ro"
	}
	if out, err := execOut(t.Context(), "mount", "-o", opt, dir); err != nil {
		t.Fatalf("mount -o %s %s: %v %s; files open there: %s", opt, dir, err, out, openFiles(dir))
	}
	for _, n := range nodes {
		if out, err := c.OnNode(t.Context(), n, "mount", "-o", opt, dir); err != nil {
			t.Fatalf("%v %s; files open there: %s", err, out, openFiles(dir))
		}
	}
}

// openFiles lists the processes' open files under dir ("pid command: path").
func openFiles(dir string) string {
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	var open []string
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(target, dir+"/") {
			continue
		}
		pid := strings.Split(fd, "/")[2]
		cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		open = append(open, pid+" "+strings.ReplaceAll(string(cmd), "\x00", " ")+": "+target)
	}
	return strings.Join(open, "; ")
}

// restartAgent replaces node's agent pod.
func restartAgent(t *testing.T, c *cluster.Cluster, sys, node string) {
	t.Helper()
	list, err := c.Client.CoreV1().Pods(sys).List(t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=agent", FieldSelector: "spec.nodeName=" + node})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("agent pod on %s: %v (%d)", node, err, len(list.Items))
	}
	replaceAgent(t, c, sys, &list.Items[0])
}
