package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quiesce-dev/quiesce/agent/kubeletpath"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/mountinfo"
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
	Mounts MountTable
}

// MountTable reads the mount points of the agent's own view, where a CSI or
// local volume must be mounted to be read; nil reads /proc/self/mountinfo.
type MountTable func() (kubeletpath.MountPoints, error)

func (m MountTable) read() (kubeletpath.MountPoints, error) {
	if m != nil {
		return m()
	}
	t, err := mountinfo.Read(mountinfo.Self)
	if err != nil {
		return nil, err
	}
	return t, nil
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
		dir, err := volumeDir(ctx, k.Client, k.Root, k.Mounts, &p, v.Name, v.PVC)
		if err != nil {
			return err
		}
		v.HostPath = dir
	}
	return nil
}

// volumeDir finds the host directory of p's volume; claim names the
// volume's PersistentVolumeClaim, if it has one, whose bound volume's name
// is part of the path. A directory a CSI driver or the kubelet mounts the
// volume on must be a mount point in the agent's view (kubeletpath.ErrNotMounted).
func volumeDir(ctx context.Context, c client.Client, root string, mounts MountTable, p *corev1.Pod, volume, claim string) (string, error) {
	ref := kubeletpath.Ref{Root: root, Pod: p, Volume: volume}
	if claim != "" {
		var pvc corev1.PersistentVolumeClaim
		if err := c.Get(ctx, types.NamespacedName{Namespace: p.Namespace, Name: claim}, &pvc); err != nil {
			return "", fmt.Errorf("pod %s/%s: volume %q: claim %s: %w", p.Namespace, p.Name, volume, claim, err)
		}
		ref.PVName = pvc.Spec.VolumeName
	}
	dir, err := kubeletpath.Resolve(ref)
	if err != nil || kubeletpath.MountedBy(root, dir) == "" {
		return dir, err
	}
	table, err := mounts.read()
	if err != nil {
		return "", fmt.Errorf("pod %s/%s: volume %q: %w", p.Namespace, p.Name, volume, err)
	}
	if err := kubeletpath.Mounted(ref, dir, table); err != nil {
		return "", err
	}
	return dir, nil
}

// KubeletHasPod reports whether the kubelet under root still has a pod's
// directory. An error other than "does not exist", or no pods directory at
// all (the mount missing), counts as present: pruning must not remove what
// may still be needed.
func KubeletHasPod(root string) func(podUID string) bool {
	return func(uid string) bool {
		dir := kubeletpath.PodDir(root, uid)
		if _, err := os.Stat(filepath.Dir(dir)); err != nil {
			return true
		}
		_, err := os.Stat(dir)
		return !errors.Is(err, os.ErrNotExist)
	}
}
