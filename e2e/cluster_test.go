package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// podSpec is a busybox container that runs script and then sleeps, so the pod
// stays up for exec and inspection; it terminates within a second.
func podSpec(script string) corev1.PodSpec {
	grace := int64(1)
	return corev1.PodSpec{
		TerminationGracePeriodSeconds: &grace,
		Containers: []corev1.Container{{
			Name: "main", Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
			Command: []string{"sh", "-c", script + "\nexec sleep 2147483647"},
		}},
	}
}

func labels(app string) map[string]string { return map[string]string{"app": app} }

func TestDeploymentRollsOut(t *testing.T) {
	t.Parallel()
	c := env(t)
	ns := c.Namespace(t, "deploy")
	ctx := t.Context()
	replicas := int32(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels("web")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("web")}, Spec: podSpec("true")},
		},
	}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment %s/web: %v", ns, err)
	}
	err := cluster.WaitFor(ctx, 2*time.Minute, "deployment "+ns+"/web 2/2 available", func(ctx context.Context) (bool, string, error) {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		st := d.Status
		return st.ObservedGeneration >= d.Generation && st.AvailableReplicas == replicas && st.UpdatedReplicas == replicas,
			fmt.Sprintf("available=%d updated=%d", st.AvailableReplicas, st.UpdatedReplicas), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != int(replicas) {
		t.Fatalf("deployment %s/web: %d pods, want %d", ns, len(pods.Items), replicas)
	}
	for _, p := range pods.Items {
		owner := metav1.GetControllerOf(&p)
		if owner == nil || owner.Kind != "ReplicaSet" || p.Spec.NodeName == "" || p.Status.PodIP == "" {
			t.Errorf("pod %s/%s: owner=%v node=%q ip=%q, want a ReplicaSet-owned, scheduled pod with an IP", ns, p.Name, owner, p.Spec.NodeName, p.Status.PodIP)
		}
	}
}

// TestDaemonSetHostPaths runs one pod per node and checks that the standard
// host paths a node agent mounts are that node's own: its containerd socket,
// and a /var/lib/kubelet that holds its own pod's directory and not the
// other node's.
func TestDaemonSetHostPaths(t *testing.T) {
	t.Parallel()
	c := env(t)
	ns := c.Namespace(t, "ds")
	ctx := t.Context()
	dirType, sockType := corev1.HostPathDirectory, corev1.HostPathSocket
	prop := corev1.MountPropagationHostToContainer
	spec := podSpec("true")
	spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "kubelet", MountPath: "/host/kubelet", ReadOnly: true, MountPropagation: &prop},
		{Name: "sock", MountPath: "/host/containerd.sock"},
	}
	spec.Volumes = []corev1.Volume{
		{Name: "kubelet", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/kubelet", Type: &dirType}}},
		{Name: "sock", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/containerd/containerd.sock", Type: &sockType}}},
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels("agent")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels("agent")}, Spec: spec},
		},
	}
	if _, err := c.Client.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create daemonset %s/agent: %v", ns, err)
	}
	err := cluster.WaitFor(ctx, 2*time.Minute, "daemonset "+ns+"/agent ready on both nodes", func(ctx context.Context) (bool, string, error) {
		ds, err := c.Client.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		st := ds.Status
		return st.DesiredNumberScheduled == 2 && st.NumberReady == 2,
			fmt.Sprintf("desired=%d ready=%d", st.DesiredNumberScheduled, st.NumberReady), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	for _, p := range pods.Items {
		nodes = append(nodes, p.Spec.NodeName)
	}
	slices.Sort(nodes)
	if !slices.Equal(nodes, cluster.Nodes) {
		t.Fatalf("daemonset %s/agent pods on nodes %v, want one on each of %v", ns, nodes, cluster.Nodes)
	}
	for i, p := range pods.Items {
		other := pods.Items[1-i]
		script := fmt.Sprintf("test -S /host/containerd.sock && test -d /host/kubelet/pods/%s && ! test -e /host/kubelet/pods/%s", p.UID, other.UID)
		res, err := c.Exec(ctx, ns, p.Name, "main", nil, "sh", "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != 0 {
			t.Errorf("pod %s on %s: hostPath /var/lib/kubelet or /run/containerd/containerd.sock is not that node's own (%q exited %d: %s)",
				p.Name, p.Spec.NodeName, script, res.ExitCode, res.Stderr)
		}
	}
}

func TestCronJobFiresJob(t *testing.T) {
	t.Parallel()
	c := env(t)
	ns := c.Namespace(t, "cron")
	ctx := t.Context()
	spec := podSpec("")
	spec.Containers[0].Command = []string{"sh", "-c", "echo fired"}
	spec.RestartPolicy = corev1.RestartPolicyNever
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "tick"},
		Spec: batchv1.CronJobSpec{
			Schedule:          "* * * * *",
			ConcurrencyPolicy: batchv1.ForbidConcurrent,
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
				Template: corev1.PodTemplateSpec{Spec: spec},
			}},
		},
	}
	if _, err := c.Client.BatchV1().CronJobs(ns).Create(ctx, cj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create cronjob %s/tick: %v", ns, err)
	}
	// The schedule fires at the next full minute, so allow one minute plus run time.
	err := cluster.WaitFor(ctx, 3*time.Minute, "a job of cronjob "+ns+"/tick to succeed", func(ctx context.Context) (bool, string, error) {
		jobs, err := c.Client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, "", err
		}
		state := fmt.Sprintf("%d jobs", len(jobs.Items))
		for _, j := range jobs.Items {
			if o := metav1.GetControllerOf(&j); o != nil && o.Kind == "CronJob" && o.Name == "tick" && j.Status.Succeeded > 0 {
				return true, state, nil
			}
		}
		return false, state, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestExecThroughAPIServer(t *testing.T) {
	t.Parallel()
	c := env(t)
	ns := c.Namespace(t, "exec")
	ctx := t.Context()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shell"}, Spec: podSpec("true")}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitPod(ctx, ns, "shell", 2*time.Minute, cluster.PodReady); err != nil {
		t.Fatal(err)
	}
	res, err := c.Exec(ctx, ns, "shell", "main", nil, "sh", "-c", "echo out; echo err >&2; exit 7")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "out\n" || res.Stderr != "err\n" || res.ExitCode != 7 {
		t.Errorf("exec: stdout=%q stderr=%q exit=%d, want \"out\\n\", \"err\\n\", 7", res.Stdout, res.Stderr, res.ExitCode)
	}
	res, err = c.Exec(ctx, ns, "shell", "main", strings.NewReader("ping"), "cat")
	if err != nil {
		t.Fatal(err)
	}
	if res.Stdout != "ping" || res.ExitCode != 0 {
		t.Errorf("exec with stdin: stdout=%q exit=%d, want \"ping\", 0", res.Stdout, res.ExitCode)
	}
}

// TestEmptyDirVisibleOnNode writes a file into an emptyDir inside a pod and
// reads it where a node agent finds it: /var/lib/kubelet/pods/<uid>/volumes/
// kubernetes.io~empty-dir/<name>/ in that node's mount namespace (and in the
// host directory behind it), and nowhere on the other node.
func TestEmptyDirVisibleOnNode(t *testing.T) {
	t.Parallel()
	c := env(t)
	ns := c.Namespace(t, "emptydir")
	ctx := t.Context()
	token := randomToken(t)
	spec := podSpec("echo " + token + " > /data/token")
	spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/data/token"}}},
		PeriodSeconds: 1,
	}
	spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "writer"}, Spec: spec}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := c.WaitPod(ctx, ns, "writer", 2*time.Minute, cluster.PodReady)
	if err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join("pods", string(p.UID), "volumes", "kubernetes.io~empty-dir", "data", "token")
	out, err := c.OnNode(ctx, p.Spec.NodeName, "cat", filepath.Join("/var/lib/kubelet", rel))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != token {
		t.Errorf("node %s: /var/lib/kubelet/%s = %q, want %q", p.Spec.NodeName, rel, out, token)
	}
	b, err := os.ReadFile(filepath.Join(c.KubeletDir(p.Spec.NodeName), rel))
	if err != nil || strings.TrimSpace(string(b)) != token {
		t.Errorf("host dir of node %s: %s: %q, %v; want %q", p.Spec.NodeName, rel, b, err, token)
	}
	for _, n := range cluster.Nodes {
		if n == p.Spec.NodeName {
			continue
		}
		if _, err := os.Stat(filepath.Join(c.KubeletDir(n), "pods", string(p.UID))); !os.IsNotExist(err) {
			t.Errorf("node %s has pod %s's directory (stat: %v); each node must have its own /var/lib/kubelet", n, p.UID, err)
		}
	}
}

// TestPodReachesAPIServer runs e2e/incluster in a pod: an unmodified
// in-cluster client config must reach the API server through the kubernetes
// Service (kube-proxy on the node), authenticate with the mounted service
// account token, and be refused by RBAC where it should be.
func TestPodReachesAPIServer(t *testing.T) {
	t.Parallel()
	c := env(t)
	ns := c.Namespace(t, "incluster")
	ctx := t.Context()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "client"}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{
			Name: "incluster", Image: cluster.InClusterImage, ImagePullPolicy: corev1.PullNever,
		}},
	}}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, waitErr := c.WaitPod(ctx, ns, "client", 2*time.Minute, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	logs, err := c.Client.CoreV1().Pods(ns).GetLogs("client", &corev1.PodLogOptions{}).DoRaw(ctx)
	if waitErr != nil || err != nil {
		t.Fatalf("pod %s/client did not finish: %v (logs: %s %v; is %s imported? run make images)", ns, waitErr, logs, err, cluster.InClusterImage)
	}
	svc, err := c.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := "host https://" + svc.Spec.ClusterIP + ":443\n"
	if !strings.Contains(string(logs), want) || !strings.Contains(string(logs), "kube-system secrets forbidden") {
		t.Errorf("in-cluster client in pod %s/client: %s; want %q and RBAC refusing kube-system secrets", ns, logs, want)
	}
}

// TestQuiesceImageRuns runs the image `make image` builds from the Dockerfile.
func TestQuiesceImageRuns(t *testing.T) {
	t.Parallel()
	c := env(t)
	ns := c.Namespace(t, "image")
	ctx := t.Context()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "quiesce"}, Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{
			Name: "quiesce", Image: cluster.QuiesceImage, ImagePullPolicy: corev1.PullNever, Args: []string{"--help"},
		}},
	}}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitPod(ctx, ns, "quiesce", 2*time.Minute, cluster.PodSucceeded); err != nil {
		t.Fatalf("%v (is %s imported? run make images)", err, cluster.QuiesceImage)
	}
	logs, err := c.Client.CoreV1().Pods(ns).GetLogs("quiesce", &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Fatalf("logs of pod %s/quiesce: %v", ns, err)
	}
	// Exit 0 (Succeeded above) and a help text: the static binary runs on the
	// empty base as the image's non-root user.
	if len(strings.TrimSpace(string(logs))) == 0 {
		t.Errorf("quiesce --help in %s printed nothing", cluster.QuiesceImage)
	}
}

func randomToken(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
