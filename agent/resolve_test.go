package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/quiesce-dev/quiesce/agent/kubeletpath"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

type mountSet map[string]bool

func (m mountSet) IsMountPoint(p string) bool { return m[p] }

// A CSI volume whose directory is there but not mounted in the agent's view
// (propagation missing) fails the pod before any hook, with its own cause
// and the fix; mounted, the same pod is backed up.
func TestAgentRefusesAnUnmountedCSIVolume(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mounted bool
	}{{"not mounted", false}, {"mounted", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := runtime.NewScheme()
			_ = api.AddToScheme(s)
			_ = clientgoscheme.AddToScheme(s)
			nb := nodeBackup("b1-node-a", "node-a", "db-0")
			nb.Spec.Pods[0].Volumes = []api.VolumeAssignment{{Name: "data", PVC: "data-db-0", Source: "shop/pvc/data-db-0/data"}}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", UID: types.UID("uid-db-0")},
				Spec: corev1.PodSpec{Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-db-0"}}}}}}
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "data-db-0"},
				Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "quiesce-csi-1"}}
			root := t.TempDir()
			dir := filepath.Join(root, "pods", "uid-db-0", "volumes", kubeletpath.PluginCSI, "quiesce-csi-1", "mount")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			c := fake.NewClientBuilder().WithScheme(s).WithObjects(nb, pod, pvc).WithStatusSubresource(&api.NodeBackup{}).Build()
			tr := &trace{}
			ag := newAgent(t, c, tr, t.TempDir())
			ag.Paths = &KubeletPaths{Client: c, Root: root, Mounts: func() (kubeletpath.MountPoints, error) {
				return mountSet{dir: tc.mounted}, nil
			}}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error)
			go func() { done <- ag.Run(ctx) }()
			got := waitDone(t, c, "b1-node-a", 20*time.Second)
			cancel()
			<-done
			p := got.Status.Pods[0]
			if tc.mounted {
				if p.Phase != api.PodCompleted {
					t.Fatalf("pod = %+v, want Completed", p)
				}
				return
			}
			if p.Phase != api.PodFailed || p.Cause != api.CauseVolumeNotMounted {
				t.Fatalf("pod = %+v, want Failed with cause %s", p, api.CauseVolumeNotMounted)
			}
			for _, want := range []string{"pod not frozen", "pod shop/db-0", `volume "data"`, dir, "agent.mountPropagation"} {
				if !strings.Contains(p.Reason, want) {
					t.Errorf("reason %q lacks %q", p.Reason, want)
				}
			}
			if calls := tr.get(); len(calls) != 0 {
				t.Errorf("the agent acted on a pod whose volume is not mounted: %v", calls)
			}
		})
	}
}
