package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
	"github.com/quiesce-dev/quiesce/internal/testenv/s3server"
)

// TestS3Repository installs the chart with a real S3 server as its
// repository: SeaweedFS over TLS on the host bridge (the nodes' pods reach
// it there), its CA from a ConfigMap, the keys in the chart's Secret. A
// backup's upload is cut by the server killed (-9) while the agent
// uploads, and restarted 5 s later: the backup completes (kopia's retries),
// the pod was thawed before the upload, and the data comes back byte for
// byte in a new namespace. QUIESCE_INTEGRATION=1 QUIESCE_S3=1 (make
// test-e2e-s3): not in make test, with the server's cold build.
func TestS3Repository(t *testing.T) {
	s3server.Require(t)
	c := env(t)
	ctx := t.Context()
	srv := s3server.StartAt(t, "quiesce-e2e", cluster.HostIP)
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qs3")
	ca := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "s3-ca", Namespace: sys}, Data: map[string]string{"ca.crt": string(srv.CA.PEM)}}
	if _, err := c.Client.CoreV1().ConfigMaps(sys).Create(ctx, ca, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	installChart(t, c, sys, "/var/lib/quiesce-e2e-repos/"+sys,
		"--set", "coordinator.schedules[0].name=nightly", "--set", "coordinator.schedules[0].schedule=0 0 1 1 *",
		"--set", "repository.type=s3", "--set", "repository.s3.endpoint="+srv.Endpoint,
		"--set", "repository.s3.bucket="+srv.Bucket, "--set", "repository.s3.prefix=e2e/",
		"--set", "repository.s3.accessKeyID="+srv.AccessKey, "--set", "repository.s3.secretAccessKey="+srv.SecretKey,
		"--set", "repository.s3.ca.configMap=s3-ca")
	kc := apiClient(t, c)

	pod := hookPod("db", "node-a", map[string]string{
		"backup.velero.io/backup-volumes":    "data",
		"pre.hook.backup.velero.io/command":  `["/bin/sh","-c","touch /data/frozen"]`,
		"post.hook.backup.velero.io/command": `["/bin/sh","-c","rm /data/frozen; date +%s > /data/thawed"]`,
	})
	createPods(t, c, app, pod)
	if res, err := c.Exec(ctx, app, "db", "app", nil, "sh", "-c", "head -c 200000000 /dev/urandom > /data/blob"); err != nil || res.ExitCode != 0 {
		t.Fatalf("write /data/blob: %v %+v", err, res)
	}
	want := checksum(t, c, app, "db", "/data/blob")

	// The server dies the moment the agent reports the pod uploading.
	killed := make(chan string, 1)
	go func() {
		err := cluster.WaitFor(ctx, 5*time.Minute, "pod db uploading", func(ctx context.Context) (bool, string, error) {
			var nbs api.NodeBackupList
			if err := kc.List(ctx, &nbs, client.InNamespace(sys), client.MatchingLabels{api.LabelBackup: "cut"}); err != nil {
				return false, err.Error(), nil
			}
			for _, nb := range nbs.Items {
				for _, p := range nb.Status.Pods {
					if p.Phase == api.PodUploading {
						return true, "", nil
					}
				}
			}
			return false, "not uploading yet", nil
		})
		if err != nil {
			killed <- err.Error()
			return
		}
		srv.Kill()
		time.Sleep(5 * time.Second)
		srv.Restart()
		killed <- ""
	}()
	out, err := run(t, nil, "quiesce", "backup", "create", "cut", "--kubeconfig", c.Kubeconfig, "-n", sys, "--include-namespaces", app, "--wait")
	t.Logf("quiesce backup create cut (%v):\n%s", err, out)
	if why := <-killed; why != "" {
		t.Fatalf("the server was not killed during the upload: %s", why)
	}
	var b api.Backup
	if err := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: "cut"}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Status.Phase != api.BackupPhaseCompleted {
		t.Fatalf("backup cut: %s %v: want Completed after the server came back", b.Status.Phase, b.Status.Errors)
	}
	if res, err := c.Exec(ctx, app, "db", "app", nil, "sh", "-c", "test ! -e /data/frozen && test -s /data/thawed"); err != nil || res.ExitCode != 0 {
		t.Errorf("the pod is not thawed: %v %+v", err, res)
	}

	dst := app + "-r"
	r := &api.Restore{ObjectMeta: metav1.ObjectMeta{Namespace: sys, Name: "cut"},
		Spec: api.RestoreSpec{BackupName: "cut", NamespaceMapping: map[string]string{app: dst}}}
	if err := kc.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), dst, metav1.DeleteOptions{})
	})
	if err := cluster.WaitFor(ctx, 5*time.Minute, "restore cut final", func(ctx context.Context) (bool, string, error) {
		if err := kc.Get(ctx, client.ObjectKeyFromObject(r), r); err != nil {
			return false, err.Error(), nil
		}
		return r.Status.Phase.Final(), string(r.Status.Phase), nil
	}); err != nil || r.Status.Phase != api.RestorePhaseCompleted {
		t.Fatalf("restore cut: %v %s %s %v", err, r.Status.Phase, r.Status.FailureReason, r.Status.Errors)
	}
	if _, err := c.WaitPod(ctx, dst, "db", 2*time.Minute, cluster.PodReady); err != nil {
		t.Fatal(err)
	}
	if got := checksum(t, c, dst, "db", "/data/blob"); got != want {
		t.Errorf("restored /data/blob md5 %s, want %s", got, want)
	}
}
