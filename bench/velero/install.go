package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

const (
	quiesceNS      = "vel-quiesce" // the chart's release and namespace
	veleroNS       = "velero"
	quiesceBucket  = "quiesce"
	veleroBucket   = "velero"
	repoPassword   = "bench-velero-password"
	quiesceState   = "/var/lib/quiesce-vel-state"
	veleroImage    = "docker.io/velero/velero:v1.18.3"
	veleroPlugin   = "docker.io/velero/velero-plugin-for-aws:v1.14.3"
	installTimeout = 5 * time.Minute
)

// installQuiesce installs the chart into vel-quiesce with an S3 repository
// in the same SeaweedFS as Velero's.
func (e *env) installQuiesce(ctx context.Context) error {
	if err := e.lease(); err != nil {
		return err
	}
	root := cluster.RepoRoot()
	// helm installs crds/ only when missing; the cluster may hold older ones.
	if out, err := e.kubectl(ctx, nil, "apply", "--server-side", "--force-conflicts", "-f", filepath.Join(root, "charts/quiesce/crds/")); err != nil {
		return fmt.Errorf("quiesce CRDs: %w\n%s", err, out)
	}
	e.onCleanup(func(ctx context.Context) {
		_, _ = run(ctx, nil, e.o.helm, "uninstall", quiesceNS, "-n", quiesceNS, "--kubeconfig", e.o.kubeconfig, "--wait")
		e.deleteNamespace(ctx, quiesceNS)
		for _, n := range cluster.Nodes {
			_ = os.RemoveAll(filepath.Join(e.c.State, "nodes", n, strings.TrimPrefix(quiesceState, "/")))
		}
	})
	repo, tag, _ := strings.Cut(e.o.quiesceImage, ":")
	args := []string{"upgrade", "--install", quiesceNS, filepath.Join(root, "charts/quiesce"), "-n", quiesceNS,
		"--create-namespace", "--kubeconfig", e.o.kubeconfig, "--wait", "--timeout", installTimeout.String(),
		"--set", "image.repository=" + repo, "--set", "image.tag=" + tag, "--set", "image.pullPolicy=Never",
		"--set", "repository.type=s3", "--set", "repository.s3.endpoint=" + e.s3.Endpoint,
		"--set", "repository.s3.bucket=" + quiesceBucket, "--set", "repository.s3.region=" + s3Region,
		"--set", "repository.s3.insecure=true", "--set", "repository.s3.accessKeyID=" + e.s3.AccessKey,
		"--set", "repository.s3.secretAccessKey=" + e.s3.SecretKey, "--set", "repository.password=" + repoPassword,
		"--set", "agent.stateDir=" + quiesceState,
		// A schedule that never fires: backups are created by the harness.
		"--set", "coordinator.schedules[0].name=never", "--set", "coordinator.schedules[0].schedule=0 0 1 1 *"}
	if out, err := run(ctx, nil, e.o.helm, args...); err != nil {
		return fmt.Errorf("helm install quiesce: %w\n%s", err, out)
	}
	return nil
}

// installVelero renders `velero install` with its defaults plus what this
// cluster needs (the node-agent with the kopia uploader, the AWS plugin
// pointed at SeaweedFS, no volume snapshots: there is no cloud provider)
// and applies it. The images carry the names install uses by default.
func (e *env) installVelero(ctx context.Context) error {
	if err := e.lease(); err != nil {
		return err
	}
	creds := filepath.Join(e.o.work, "velero-credentials")
	if err := os.WriteFile(creds, fmt.Appendf(nil, "[default]\naws_access_key_id=%s\naws_secret_access_key=%s\n",
		e.s3.AccessKey, e.s3.SecretKey), 0o600); err != nil {
		return fmt.Errorf("velero credentials: %w", err)
	}
	manifests, err := run(ctx, nil, e.o.velero, "install", "--dry-run", "-o", "yaml", "--namespace", veleroNS,
		"--image", veleroImage, "--plugins", veleroPlugin, "--provider", "aws", "--bucket", veleroBucket,
		"--secret-file", creds, "--use-volume-snapshots=false", "--use-node-agent", "--uploader-type", "kopia",
		"--backup-location-config", "region="+s3Region+",s3ForcePathStyle=true,s3Url=http://"+e.s3.Endpoint)
	if err != nil {
		return fmt.Errorf("velero install --dry-run: %w", err)
	}
	if err := os.WriteFile(filepath.Join(e.o.work, "velero-install.yaml"), []byte(manifests), 0o600); err != nil {
		return err
	}
	e.onCleanup(e.uninstallVelero)
	// The first apply creates the CRDs; the custom resources in the same
	// list (the backup storage location) need them established first.
	var out string
	err = cluster.WaitFor(ctx, 2*time.Minute, "velero install manifests applied", func(ctx context.Context) (bool, string, error) {
		out, err = e.kubectl(ctx, []byte(manifests), "apply", "-f", "-")
		return err == nil, tail(out, 300), nil
	})
	if err != nil {
		return fmt.Errorf("apply velero install manifests: %w\n%s", err, out)
	}
	for _, w := range [][]string{
		{"rollout", "status", "-n", veleroNS, "deploy/velero", "--timeout=5m"},
		{"rollout", "status", "-n", veleroNS, "ds/node-agent", "--timeout=5m"},
	} {
		if out, err := e.kubectl(ctx, nil, w...); err != nil {
			return fmt.Errorf("velero not ready: %w\n%s", err, out)
		}
	}
	bsl := e.dyn.Resource(gvr("backupstoragelocations")).Namespace(veleroNS)
	return cluster.WaitFor(ctx, 3*time.Minute, "velero backup storage location Available", func(ctx context.Context) (bool, string, error) {
		u, err := bsl.Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		phase, _, _ := unstructuredString(u.Object, "status", "phase")
		return phase == "Available", phase, nil
	})
}

// uninstallVelero removes what install created: its namespace (every
// Velero object in it), its ClusterRoleBinding and its CRDs.
func (e *env) uninstallVelero(ctx context.Context) {
	// Restores and pod volume backups and restores carry finalizers that
	// only the Velero server and node-agents remove, and those go with the
	// namespace: drop them until the namespace is gone.
	_ = e.c.Client.CoreV1().Namespaces().Delete(ctx, veleroNS, metav1.DeleteOptions{})
	_ = cluster.WaitFor(ctx, 3*time.Minute, "namespace "+veleroNS+" gone", func(ctx context.Context) (bool, string, error) {
		if _, err := e.c.Client.CoreV1().Namespaces().Get(ctx, veleroNS, metav1.GetOptions{}); err != nil {
			return true, "", nil
		}
		out, _ := e.kubectl(ctx, nil, "get", "-n", veleroNS, "-o", "name",
			"restores.velero.io,podvolumebackups.velero.io,podvolumerestores.velero.io,datauploads.velero.io,datadownloads.velero.io")
		for _, obj := range strings.Fields(out) {
			_, _ = e.kubectl(ctx, nil, "patch", "-n", veleroNS, obj, "--type=merge", "-p", `{"metadata":{"finalizers":null}}`)
		}
		return false, "terminating", nil
	})
	_, _ = e.kubectl(ctx, nil, "delete", "clusterrolebinding", "velero", "--ignore-not-found")
	out, err := e.kubectl(ctx, nil, "get", "crd", "-o", "name")
	if err != nil {
		return
	}
	for _, crd := range strings.Fields(out) {
		if strings.HasSuffix(crd, ".velero.io") {
			_, _ = e.kubectl(ctx, nil, "delete", crd, "--ignore-not-found", "--wait=false")
		}
	}
}

func (e *env) deleteNamespace(ctx context.Context, ns string) {
	_ = e.c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	_ = cluster.WaitFor(ctx, 3*time.Minute, "namespace "+ns+" gone", func(ctx context.Context) (bool, string, error) {
		_, err := e.c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err != nil, fmt.Sprint(err), nil
	})
}

// createNamespace makes ns afresh (a leftover of an earlier run is deleted
// first) and waits for its default ServiceAccount.
func (e *env) createNamespace(ctx context.Context, ns string) error {
	if err := e.lease(); err != nil {
		return err
	}
	e.deleteNamespace(ctx, ns)
	if _, err := e.c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	e.onCleanup(func(ctx context.Context) { e.deleteNamespace(ctx, ns) })
	return cluster.WaitFor(ctx, time.Minute, "service account "+ns+"/default", func(ctx context.Context) (bool, string, error) {
		_, err := e.c.Client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, fmt.Sprint(err), nil
	})
}

func gvr(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: resource}
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur, ok = m[f]
		if !ok {
			return "", false, nil
		}
	}
	s, ok := cur.(string)
	return s, ok, nil
}
