package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// The test CSI driver (internal/testcsi, deployed by hack/csi/deploy.yaml;
// image hack/images/csi.sh, imported by make images).
const (
	csiDriverName   = "quiesce-csi.quiesce.dev"
	csiStorageClass = "quiesce-csi"
	csiNamespace    = "csi-quiesce-driver"
	csiManifest     = "hack/csi/deploy.yaml"
	csiStateDir     = "/var/lib/quiesce-csi"
)

// TestCSIStatefulSet backs up a StatefulSet whose claims the test CSI
// driver provisions, one replica on each node, and restores it into a new
// namespace (namespaceMapping) while the original runs: the restored claims
// get new volumes from the driver, and every file is there byte for byte.
func TestCSIStatefulSet(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	csiDriver(t, c)
	sys := c.Namespace(t, "csi-sys")
	src := c.Namespace(t, "csi-src")
	dst := "csi-dst-" + strings.TrimPrefix(src, "csi-src-")
	repoDir := "/var/lib/quiesce-e2e-repos/" + sys
	installChart(t, c, sys, repoDir)
	t.Cleanup(func() {
		_ = c.Client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), dst, metav1.DeleteOptions{})
	})

	kc := apiClient(t, c)
	sts := csiStatefulSet(2)
	sts.Namespace = src
	if err := kc.Create(ctx, sts); err != nil {
		t.Fatal(err)
	}
	pods := waitReadyPods(t, c, src, "app=csi-db", 2)
	before := map[string]string{}
	for _, p := range pods {
		// More than the blob: a tree, an empty file, a symbolic link.
		if res, err := c.Exec(ctx, src, p.Name, "app", nil, "sh", "-c",
			"mkdir -p /data/tree/deep && head -c 300001 /dev/urandom > /data/tree/deep/odd && echo "+p.Name+" > /data/tree/who && : > /data/tree/empty && ln -s tree/who /data/link"); err != nil {
			t.Fatalf("pod %s: write data: %v (%s)", p.Name, err, res.Stderr)
		}
		before[p.Name] = dataDigest(t, c, src, p.Name)
		assertCSIMounted(t, c, &p)
	}
	if pods[0].Spec.NodeName == pods[1].Spec.NodeName {
		t.Fatalf("both replicas on %s: want one per node", pods[0].Spec.NodeName)
	}

	out, err := run(t, nil, "quiesce", "backup", "create", "csi", "--kubeconfig", c.Kubeconfig, "-n", sys,
		"--include-namespaces", src, "--wait")
	t.Logf("quiesce backup create:\n%s", out)
	if err != nil {
		t.Fatalf("backup create: %v", err)
	}
	var b api.Backup
	if err := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: "csi"}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Status.Phase != api.BackupPhaseCompleted {
		t.Fatalf("backup = %s (errors %v): want Completed", b.Status.Phase, b.Status.Errors)
	}
	for _, p := range podsOf(t, kc, &b) {
		if p.Phase != api.PodCompleted || len(p.Volumes) != 1 || p.Volumes[0].SnapshotID == "" || p.Volumes[0].Bytes < 2_000_000 {
			t.Errorf("pod %s = %+v: want Completed with its CSI volume (over 2 MB) in a snapshot", p.Name, p)
		}
	}

	manifest := fmt.Sprintf(`apiVersion: velero.io/v1
kind: Restore
metadata: {name: csi-copy, namespace: velero}
spec:
  backupName: csi
  namespaceMapping: {%s: %s}
  restorePVs: true
`, src, dst)
	mf := filepath.Join(t.TempDir(), "restore.yaml")
	if err := os.WriteFile(mf, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, nil, "quiesce", "restore", "create", "-f", mf, "--kubeconfig", c.Kubeconfig, "-n", sys, "--wait")
	t.Logf("quiesce restore create:\n%s", out)
	if err != nil {
		t.Fatalf("restore create: %v", err)
	}
	var r api.Restore
	if err := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: "csi-copy"}, &r); err != nil {
		t.Fatal(err)
	}
	if r.Status.Phase != api.RestorePhaseCompleted {
		t.Fatalf("restore = %s (%s) errors %v warnings %v: want Completed", r.Status.Phase, r.Status.FailureReason, r.Status.Errors, r.Status.Warnings)
	}
	// Expected: the original's volumes are taken, so the claims are
	// restored without spec.volumeName and the driver provisions anew.
	t.Logf("restore warnings:\n%s", strings.Join(r.Status.Warnings, "\n"))

	restored := waitReadyPods(t, c, dst, "app=csi-db", 2)
	srcPVs := map[string]bool{}
	for _, p := range pods {
		srcPVs[claimVolume(t, c, src, "data-"+p.Name)] = true
	}
	for _, p := range restored {
		if got := dataDigest(t, c, dst, p.Name); got != before[p.Name] {
			t.Errorf("restored %s/%s: data differs from the backed-up pod's:\n%s\nwant:\n%s", dst, p.Name, got, before[p.Name])
		}
		pv := claimVolume(t, c, dst, "data-"+p.Name)
		if srcPVs[pv] {
			t.Errorf("restored claim %s/data-%s bound to the original's volume %s: want a new one from the driver", dst, p.Name, pv)
		}
		assertCSIMounted(t, c, &p)
	}
	// The original runs on, untouched.
	for _, p := range pods {
		if got := dataDigest(t, c, src, p.Name); got != before[p.Name] {
			t.Errorf("original %s/%s changed during the restore", src, p.Name)
		}
	}
	assertAdopted(t, c, dst, "app=csi-db,statefulset.kubernetes.io/pod-name=csi-db-0", "StatefulSet")
}

// TestCSIWithoutMountPropagation installs the agent without mount
// propagation, then starts a pod whose CSI volume the driver mounts after
// the agent started: the agent sees an empty directory where the volume
// is, and must fail the pod with VolumeNotMounted and the fix, not record
// an empty snapshot as a success.
func TestCSIWithoutMountPropagation(t *testing.T) {
	c := env(t)
	ctx := t.Context()
	csiDriver(t, c)
	sys := c.Namespace(t, "csi-sys")
	app := c.Namespace(t, "csi-app")
	installChart(t, c, sys, "/var/lib/quiesce-e2e-repos/"+sys,
		"--set", "coordinator.schedules[0].name=nightly", "--set", "coordinator.schedules[0].schedule=0 0 1 1 *",
		"--set", "agent.mountPropagation=None")

	// The agents' containers exist before the volume is mounted: a
	// container made after the mount would hold a copy of it, propagation
	// or not (on a loaded machine helm's wait can return before every
	// agent pod is up).
	waitReadyPods(t, c, sys, "app.kubernetes.io/component=agent", len(cluster.Nodes))
	kc := apiClient(t, c)
	sts := csiStatefulSet(1)
	sts.Namespace = app
	if err := kc.Create(ctx, sts); err != nil {
		t.Fatal(err)
	}
	pod := waitReadyPods(t, c, app, "app=csi-db", 1)[0]
	assertCSIMounted(t, c, &pod) // mounted on the node: only the agent cannot see it
	for _, a := range waitReadyPods(t, c, sys, "app.kubernetes.io/component=agent", len(cluster.Nodes)) {
		for _, st := range a.Status.ContainerStatuses {
			if a.Spec.NodeName == pod.Spec.NodeName && (st.RestartCount > 0 || st.State.Running == nil || !st.State.Running.StartedAt.Before(&pod.CreationTimestamp)) {
				t.Fatalf("agent %s container %s (started %v, %d restarts) was not running before pod %s was created (%v): the test's premise fails",
					a.Name, st.Name, st.State.Running, st.RestartCount, pod.Name, pod.CreationTimestamp)
			}
		}
	}

	out, err := run(t, nil, "quiesce", "backup", "create", "blind", "--kubeconfig", c.Kubeconfig, "-n", sys,
		"--include-namespaces", app, "--wait")
	t.Logf("quiesce backup create (%v):\n%s", err, out)
	var b api.Backup
	if err := kc.Get(ctx, client.ObjectKey{Namespace: sys, Name: "blind"}, &b); err != nil {
		t.Fatal(err)
	}
	if b.Status.Phase == api.BackupPhaseCompleted {
		t.Errorf("backup Completed: an unmounted CSI volume was backed up as a success")
	}
	res := podsOf(t, kc, &b)
	if len(res) != 1 {
		t.Fatalf("pods = %+v, want csi-db-0", res)
	}
	p := res[0]
	if p.Phase != api.PodFailed || p.Cause != api.CauseVolumeNotMounted {
		t.Fatalf("pod = %+v: want Failed with cause %s", p, api.CauseVolumeNotMounted)
	}
	for _, want := range []string{"pod " + app + "/csi-db-0", `volume "data"`, "kubernetes.io~csi/", "/mount", "agent.mountPropagation", "HostToContainer"} {
		if !strings.Contains(p.Reason, want) {
			t.Errorf("reason %q does not name %q", p.Reason, want)
		}
	}
	if !nothingCaptured(p) || p.Freeze != nil {
		t.Errorf("pod = %+v: want nothing captured and the pod never frozen", p)
	}
	t.Logf("pod %s: %s: %s", p.Name, p.Cause, p.Reason)
}

// csiStatefulSet has replicas pods, one per node (required anti-affinity),
// each with a claim of the test CSI driver's class.
func csiStatefulSet(replicas int32) *appsv1.StatefulSet {
	grace := int64(1)
	labels := map[string]string{"app": "csi-db"}
	class := csiStorageClass
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "csi-db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr(replicas),
			ServiceName:         "csi-db",
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"backup.velero.io/backup-volumes": "data"}},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers:                    []corev1.Container{appContainer()},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: "kubernetes.io/hostname"}}}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: &class,
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
				},
			}},
		},
	}
}

// waitReadyPods waits until n pods with the selector are Ready and
// returns them sorted by name.
func waitReadyPods(t *testing.T, c *cluster.Cluster, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	var ready []corev1.Pod
	err := cluster.WaitFor(t.Context(), 4*time.Minute, fmt.Sprintf("%d ready pods %s in %s", n, selector, ns), func(ctx context.Context) (bool, string, error) {
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error(), nil
		}
		ready = ready[:0]
		var states []string
		for _, p := range pods.Items {
			states = append(states, p.Name+":"+string(p.Status.Phase))
			if p.DeletionTimestamp == nil && cluster.PodReady(&p) {
				ready = append(ready, p)
			}
		}
		return len(ready) == n && len(pods.Items) == n, strings.Join(states, ","), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ready
}

// dataDigest lists every file of the pod's /data with its checksum, the
// symbolic links with their targets, but not app-started (each start of
// the app rewrites it).
func dataDigest(t *testing.T, c *cluster.Cluster, ns, pod string) string {
	t.Helper()
	res, err := c.Exec(t.Context(), ns, pod, "app", nil, "sh", "-c",
		`cd /data && find . -type f ! -name app-started -exec md5sum {} + | sort && find . -type l -exec sh -c 'echo "$1 -> $(readlink "$1")"' _ {} \; | sort`)
	if err != nil || res.Stdout == "" {
		t.Fatalf("digest of %s/%s:/data: %v (%s)", ns, pod, err, res.Stderr)
	}
	return res.Stdout
}

// claimVolume is the name of the PersistentVolume bound to the claim.
func claimVolume(t *testing.T, c *cluster.Cluster, ns, claim string) string {
	t.Helper()
	pvc, err := c.Client.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), claim, metav1.GetOptions{})
	if err != nil || pvc.Spec.VolumeName == "" {
		t.Fatalf("claim %s/%s: %v (volume %q)", ns, claim, err, pvc.Spec.VolumeName)
	}
	return pvc.Spec.VolumeName
}

// assertCSIMounted checks that the pod's data volume came through the CSI
// path: its PersistentVolume is the driver's, kept on the pod's node, and
// the kubelet's target path is a mount point in the node's mount namespace.
func assertCSIMounted(t *testing.T, c *cluster.Cluster, p *corev1.Pod) {
	t.Helper()
	name := claimVolume(t, c, p.Namespace, "data-"+p.Name)
	pv, err := c.Client.CoreV1().PersistentVolumes().Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != csiDriverName || !strings.HasPrefix(pv.Name, "quiesce-csi-") {
		t.Errorf("volume %s of %s/%s = %+v: want provisioned by %s", name, p.Namespace, p.Name, pv.Spec.PersistentVolumeSource, csiDriverName)
	}
	var terms []corev1.NodeSelectorTerm
	if a := pv.Spec.NodeAffinity; a != nil && a.Required != nil {
		terms = a.Required.NodeSelectorTerms
	}
	if len(terms) != 1 || len(terms[0].MatchExpressions) != 1 ||
		len(terms[0].MatchExpressions[0].Values) != 1 || terms[0].MatchExpressions[0].Values[0] != p.Spec.NodeName {
		t.Errorf("volume %s node affinity %+v: want the pod's node %s", name, pv.Spec.NodeAffinity, p.Spec.NodeName)
	}
	target := fmt.Sprintf("/var/lib/kubelet/pods/%s/volumes/kubernetes.io~csi/%s/mount", p.UID, name)
	out, err := c.OnNode(t.Context(), p.Spec.NodeName, "cat", "/proc/self/mountinfo")
	if err != nil || !strings.Contains(out, " "+target+" ") {
		t.Errorf("node %s: %s is not a mount point (%v)", p.Spec.NodeName, target, err)
	}
}

// csiDriver installs the test CSI driver (hack/csi/deploy.yaml) and waits
// until both kubelets have registered it; when the test ends it waits for
// the volumes of its class to be deleted (the driver deletes them), then
// removes it.
func csiDriver(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	ctx := t.Context()
	objs := csiObjects(t)
	dyn := dynamic.NewForConfigOrDie(c.Config)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	resourceOf := func(u *unstructured.Unstructured) dynamic.ResourceInterface {
		m, err := mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
		if err != nil {
			t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
		if u.GetNamespace() != "" {
			return dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		return dyn.Resource(m.Resource)
	}
	// A namespace left terminating by an earlier test must be gone first.
	if err := cluster.WaitFor(ctx, 3*time.Minute, "namespace "+csiNamespace+" not terminating", func(ctx context.Context) (bool, string, error) {
		ns, err := c.Client.CoreV1().Namespaces().Get(ctx, csiNamespace, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		return err == nil && ns.DeletionTimestamp == nil, fmt.Sprint(err), nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCSIDriver(t, c, objs, resourceOf) })
	force := true
	for _, u := range objs {
		js, _ := u.MarshalJSON()
		if _, err := resourceOf(u).Patch(ctx, u.GetName(), types.ApplyPatchType, js, metav1.PatchOptions{FieldManager: "quiesce-e2e-csi", Force: &force}); err != nil {
			t.Fatalf("apply %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	err := cluster.WaitFor(ctx, 3*time.Minute, "driver "+csiDriverName+" registered on every node", func(ctx context.Context) (bool, string, error) {
		var missing []string
		for _, n := range cluster.Nodes {
			cn, err := c.Client.StorageV1().CSINodes().Get(ctx, n, metav1.GetOptions{})
			registered := false
			for i := 0; err == nil && i < len(cn.Spec.Drivers); i++ {
				registered = registered || cn.Spec.Drivers[i].Name == csiDriverName
			}
			if !registered {
				missing = append(missing, n)
			}
		}
		pods, _ := c.Client.CoreV1().Pods(csiNamespace).List(ctx, metav1.ListOptions{})
		var states []string
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil {
					if w.Reason == "ErrImageNeverPull" {
						return false, "", fmt.Errorf("pod %s: image %s not on node %s: build and import it (make images, or hack/images/csi.sh then hack/cluster/load-images.sh)", p.Name, cs.Image, p.Spec.NodeName)
					}
					states = append(states, p.Name+"/"+cs.Name+": "+w.Reason)
				}
			}
		}
		return len(missing) == 0, fmt.Sprintf("not on %v; %v", missing, states), nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func removeCSIDriver(t *testing.T, c *cluster.Cluster, objs []*unstructured.Unstructured, resourceOf func(*unstructured.Unstructured) dynamic.ResourceInterface) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Minute)
	defer cancel()
	if os.Getenv("QUIESCE_E2E_KEEP") == "1" && t.Failed() {
		t.Logf("QUIESCE_E2E_KEEP=1: keeping the CSI driver")
		return
	}
	// The test's namespaces go first (their cleanups ran before this one);
	// the driver must outlive their volumes, which only it can delete.
	err := cluster.WaitFor(ctx, 4*time.Minute, "volumes of class "+csiStorageClass+" deleted", func(ctx context.Context) (bool, string, error) {
		pvs, err := c.Client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error(), nil
		}
		var left []string
		for _, pv := range pvs.Items {
			if pv.Spec.StorageClassName == csiStorageClass {
				left = append(left, pv.Name+":"+string(pv.Status.Phase))
			}
		}
		return len(left) == 0, strings.Join(left, ","), nil
	})
	if err != nil {
		t.Logf("CSI driver left installed: %v", err)
		return
	}
	for i := len(objs) - 1; i >= 0; i-- {
		u := objs[i]
		if err := resourceOf(u).Delete(ctx, u.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Logf("delete %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	// The next test's install must not meet a terminating namespace.
	if err := cluster.WaitFor(ctx, 3*time.Minute, "namespace "+csiNamespace+" gone", func(ctx context.Context) (bool, string, error) {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, csiNamespace, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err), nil
	}); err != nil {
		t.Log(err)
		return
	}
	// The driver's state directory (a hostPath, shared by the nodes of this
	// one-machine cluster) holds no volume any more.
	_ = os.RemoveAll(csiStateDir)
}

// csiObjects reads the driver's manifest.
func csiObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cluster.RepoRoot(), csiManifest))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", csiManifest, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}
