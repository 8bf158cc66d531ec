package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// TestBackupVerify backs up two busybox pods and verifies the backups with
// `quiesce backup verify`: the pods are restored into scratch namespaces,
// and each one's check hook runs in its restored pod. good's check reads
// back a token written before the backup (the pod's command writes nothing,
// so only the restored volume can hold it); bad's check exits 3 with output.
// A backup of good alone passes and leaves no scratch namespace; a backup
// of both fails with bad's output in status.verification, an Event, and
// its scratch namespace kept (--keep).
func TestBackupVerify(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	sys := c.Namespace(t, "qsys")
	app := c.Namespace(t, "qver")
	installChart(t, c, sys, "/var/lib/quiesce-e2e-repos/"+sys)

	token := fmt.Sprintf("payload-%d", time.Now().UnixNano())
	good := hookPod("good", "node-a", map[string]string{
		"backup.velero.io/backup-volumes": "data",
		"verify.hook.quiesce.dev/command": fmt.Sprintf(`["/bin/sh","-c","test \"$(cat /data/payload)\" = %s && echo payload matches"]`, token),
	})
	bad := hookPod("bad", "node-b", map[string]string{
		"backup.velero.io/backup-volumes": "data",
		"verify.hook.quiesce.dev/command": `["/bin/sh","-c","echo checking /data; echo checksum mismatch >&2; exit 3"]`,
		"verify.hook.quiesce.dev/timeout": "20s",
	})
	for _, p := range []*corev1.Pod{good, bad} {
		p.Labels = map[string]string{"verify": p.Name}
		p.Spec.Containers[0].Command = []string{"sh", "-c", "exec sleep 2147483647"}
	}
	createPods(t, c, app, good, bad)
	if res, err := c.Exec(ctx, app, "good", "app", nil, "sh", "-c", "printf %s "+token+" > /data/payload"); err != nil || res.ExitCode != 0 {
		t.Fatalf("write the token: %v %+v", err, res)
	}

	kc := apiClient(t, c)
	backup := func(name string, args ...string) {
		t.Helper()
		out, err := run(t, nil, "quiesce", append([]string{"backup", "create", name, "--kubeconfig", c.Kubeconfig, "-n", sys,
			"--include-namespaces", app, "--wait"}, args...)...)
		t.Logf("quiesce backup create %s:\n%s", name, out)
		if err != nil {
			t.Fatalf("backup create %s: %v", name, err)
		}
	}
	verify := func(name string, args ...string) (*api.Backup, string, error) {
		t.Helper()
		out, err := run(t, nil, "quiesce", append([]string{"backup", "verify", name, "--kubeconfig", c.Kubeconfig, "-n", sys,
			"--ready-timeout", "2m"}, args...)...)
		t.Logf("quiesce backup verify %s (%v):\n%s", name, err, out)
		if desc, derr := run(t, nil, "quiesce", "backup", "describe", name, "--kubeconfig", c.Kubeconfig, "-n", sys); derr == nil {
			t.Logf("describe:\n%s", desc)
		}
		var b api.Backup
		if gerr := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: name}, &b); gerr != nil {
			t.Fatal(gerr)
		}
		if b.Status.Verification == nil {
			t.Fatalf("backup %s: no status.verification", name)
		}
		return &b, out, err
	}

	backup("only-good", "--selector", "verify=good")
	b, _, err := verify("only-good")
	v := b.Status.Verification
	if err != nil || v.Phase != api.VerificationPassed || len(v.Pods) != 1 {
		t.Fatalf("verify only-good: %v, verification %+v", err, v)
	}
	if p := v.Pods[0]; p.Name != "good" || !p.Passed || !p.Checked || p.ExitCode != 0 || p.Output != "payload matches" {
		t.Errorf("good: %+v", p)
	}
	scratch := v.NamespaceMapping[app]
	if !strings.HasPrefix(scratch, app+"-verify-") {
		t.Errorf("scratch namespace %q", scratch)
	}
	waitNamespaceGone(t, c, scratch)

	backup("both")
	b, out, err := verify("both", "--keep")
	v = b.Status.Verification
	if err == nil || v.Phase != api.VerificationFailed {
		t.Fatalf("verify both: %v, phase %s: want an error and Failed", err, v.Phase)
	}
	byName := map[string]api.PodVerification{}
	for _, p := range v.Pods {
		byName[p.Name] = p
	}
	if p := byName["good"]; !p.Passed {
		t.Errorf("good: %+v", p)
	}
	p := byName["bad"]
	if p.Passed || p.ExitCode != 3 || p.Output != "checking /data\nchecksum mismatch" || p.Error != "check exited 3" {
		t.Errorf("bad: %+v", p)
	}
	if !strings.Contains(v.Reason, "pod "+app+"/bad: check exited 3") || !strings.Contains(out, "checksum mismatch") {
		t.Errorf("reason %q; output:\n%s", v.Reason, out)
	}
	scratch = v.NamespaceMapping[app]
	if _, err := c.Client.CoreV1().Namespaces().Get(ctx, scratch, metav1.GetOptions{}); err != nil {
		t.Errorf("--keep: scratch namespace %s: %v", scratch, err)
	}
	t.Cleanup(func() { // t.Context() is done by the time cleanups run
		_ = c.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), scratch, metav1.DeleteOptions{})
	})
	// Events are sent in the background: wait for it.
	err = cluster.WaitFor(ctx, 30*time.Second, "a VerificationFailed Event on backup both", func(ctx context.Context) (bool, string, error) {
		evs, err := c.Client.CoreV1().Events(sys).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=both,reason=VerificationFailed"})
		if err != nil {
			return false, err.Error(), nil
		}
		return len(evs.Items) > 0, "no such Event", nil
	})
	if err != nil {
		t.Error(err)
	}
}

func waitNamespaceGone(t *testing.T, c *cluster.Cluster, ns string) {
	t.Helper()
	err := cluster.WaitFor(t.Context(), 3*time.Minute, "namespace "+ns+" gone", func(ctx context.Context) (bool, string, error) {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
