package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

// stampTo is a shell command writing the wall clock, to the microsecond,
// into file: busybox's date has no %N, its adjtimex reads the clock without
// changing it. Every pod shares the host's clock, and so does the harness.
func stampTo(file string) string {
	return `adjtimex | awk '/tv_sec/{s=$2} /tv_usec/{printf "%d.%06d\n", s, $2}' > ` + file
}

// shJSON is a shell command as Velero's annotations and manifests take it:
// a JSON list (without HTML escapes, so that it reads as written).
func shJSON(script string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode([]string{"/bin/sh", "-c", script})
	return strings.TrimSpace(b.String())
}

// benchPod is the measured workload: Velero's hook annotations (quiesce
// reads the same ones), a data volume opted in to file-system backup, and a
// marks volume, not backed up, where the pre-hook writes frozen-at and the
// post-hook thawed-at. preExtra runs in the pre-hook after the stamp.
func benchPod(name, node, preExtra string) *corev1.Pod {
	// The no-op "pod=NAME" names the pod in Velero's hook log lines, which
	// carry the command but not the pod.
	pre := ": pod=" + name + "; " + stampTo("/marks/frozen-at")
	if preExtra != "" {
		pre += "; " + preExtra
	}
	grace := int64(1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench"}, Annotations: map[string]string{
			"backup.velero.io/backup-volumes":      "data",
			"pre.hook.backup.velero.io/container":  "app",
			"pre.hook.backup.velero.io/command":    shJSON(pre),
			"pre.hook.backup.velero.io/timeout":    "60s",
			"post.hook.backup.velero.io/container": "app",
			"post.hook.backup.velero.io/command":   shJSON(stampTo("/marks/thawed-at")),
		}},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": node},
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "app", Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command:      []string{"sleep", "2147483647"},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "marks", MountPath: "/marks"}}}},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "marks", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
}

// workPod is a created pod as the harness tracks it: where its volumes are
// on the host, and how big its data is.
type workPod struct {
	Name, Node, UID string
	DataMB          int
	host            string // the pod's kubelet directory, seen from the host
}

func (p workPod) volume(name string) string {
	return filepath.Join(p.host, "volumes/kubernetes.io~empty-dir", name)
}

// createPods creates the pods in ns and waits until each is Ready.
func (e *env) createPods(ctx context.Context, ns string, pods []*corev1.Pod, dataMB []int) ([]workPod, error) {
	if err := e.lease(); err != nil {
		return nil, err
	}
	for _, p := range pods {
		if _, err := e.c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create pod %s/%s: %w", ns, p.Name, err)
		}
	}
	out := make([]workPod, 0, len(pods))
	for i, p := range pods {
		got, err := e.c.WaitPod(ctx, ns, p.Name, 3*time.Minute, cluster.PodReady)
		if err != nil {
			return nil, err
		}
		out = append(out, workPod{Name: p.Name, Node: got.Spec.NodeName, UID: string(got.UID), DataMB: dataMB[i],
			host: filepath.Join(e.c.KubeletDir(got.Spec.NodeName), "pods", string(got.UID))})
	}
	return out, nil
}

// chunks is how many files a pod's data is split into: changing one of
// them changes 10% of the volume.
const chunks = 10

// fill writes the pod's data volume from the host: chunks files of random
// (incompressible) bytes, seeded per pod and generation so that runs repeat.
func fill(p workPod, gen uint64, only int) error {
	size := int64(p.DataMB) << 20 / chunks
	buf := make([]byte, 1<<20)
	for i := range chunks {
		if only >= 0 && i != only {
			continue
		}
		seed := [32]byte{}
		copy(seed[:], fmt.Sprintf("%s/%d/%d", p.Name, i, gen))
		r := rand.NewChaCha8(seed)
		f, err := os.Create(filepath.Join(p.volume("data"), "chunk-"+strconv.Itoa(i)))
		if err != nil {
			return fmt.Errorf("fill %s: %w", p.Name, err)
		}
		for left := size; left > 0; left -= int64(len(buf)) {
			b := buf[:min(int64(len(buf)), left)]
			_, _ = r.Read(b)
			if _, err := f.Write(b); err != nil {
				f.Close()
				return fmt.Errorf("fill %s: %w", p.Name, err)
			}
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("fill %s: %w", p.Name, err)
		}
	}
	return nil
}

// marks reads a pod's frozen-at and thawed-at (zero when missing).
func (p workPod) marks() (frozen, thawed time.Time) {
	return readStamp(filepath.Join(p.volume("marks"), "frozen-at")), readStamp(filepath.Join(p.volume("marks"), "thawed-at"))
}

func (p workPod) clearMarks() {
	_ = os.Remove(filepath.Join(p.volume("marks"), "frozen-at"))
	_ = os.Remove(filepath.Join(p.volume("marks"), "thawed-at"))
}

func readStamp(path string) time.Time {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}
	}
	sec, usec, ok := strings.Cut(strings.TrimSpace(string(b)), ".")
	if !ok {
		return time.Time{}
	}
	s, err1 := strconv.ParseInt(sec, 10, 64)
	u, err2 := strconv.ParseInt(usec, 10, 64)
	if err1 != nil || err2 != nil {
		return time.Time{}
	}
	return time.Unix(s, u*1000)
}

// apiDownPod's pre-hook stamps frozen-at, then runs 3 s: the API server is
// stopped while it runs.
func apiDownPod() *corev1.Pod {
	p := benchPod("hold-0", cluster.Nodes[0], "sleep 3")
	p.Namespace = apiDownNS
	return p
}
