package agent

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/fsbackup/kubeletpath"
)

// PathResolver finds the host directories of a pod's volumes. It runs
// before the pod is frozen, so the API calls it makes are off the freeze
// path, and a volume that cannot be found fails the pod before any hook.
type PathResolver interface {
	Resolve(ctx context.Context, pod *api.PodAssignment) error
}

// KubeletPaths resolves volumes under the kubelet's root from the live pod
// and, for claims, the bound PersistentVolume's name.
type KubeletPaths struct {
	Client client.Client
	Root   string // kubelet root dir; default /var/lib/kubelet
}

// Resolve sets HostPath on each of pod's volumes.
func (k *KubeletPaths) Resolve(ctx context.Context, pod *api.PodAssignment) error {
	if len(pod.Volumes) == 0 {
		return nil
	}
	var p corev1.Pod
	if err := k.Client.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}, &p); err != nil {
		return fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if string(p.UID) != pod.UID {
		return fmt.Errorf("pod %s/%s: uid is %s, the backup assigned %s: the pod was recreated after the backup started", pod.Namespace, pod.Name, p.UID, pod.UID)
	}
	for i := range pod.Volumes {
		v := &pod.Volumes[i]
		ref := kubeletpath.Ref{Root: k.Root, Pod: &p, Volume: v.Name}
		if v.PVC != "" {
			var pvc corev1.PersistentVolumeClaim
			if err := k.Client.Get(ctx, types.NamespacedName{Namespace: pod.Namespace, Name: v.PVC}, &pvc); err != nil {
				return fmt.Errorf("pod %s/%s: volume %q: claim %s: %w", pod.Namespace, pod.Name, v.Name, v.PVC, err)
			}
			ref.PVName = pvc.Spec.VolumeName
		}
		dir, err := kubeletpath.Resolve(ref)
		if err != nil {
			return err
		}
		v.HostPath = dir
	}
	return nil
}
