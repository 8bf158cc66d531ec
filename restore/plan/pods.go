package plan

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/internal/workload"
	"github.com/quiesce-dev/quiesce/resources"
)

// SignalMountPath is where the wait container sees the signal volume.
const SignalMountPath = "/quiesce-restore"

// helperUID runs the wait container: the quiesce image's non-root user,
// set explicitly so that a pod running as root still passes runAsNonRoot.
const helperUID = 65532

// podWork resolves a restored pod's volume data and hooks, adds the wait
// container and the init hook containers to st's object, and records the
// pod's PodWork when there is anything for the agent to do. src is the pod
// as stored (source namespace, owner references).
func (b *builder) podWork(src resources.Item, st *Step) error {
	var pod corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(st.Item.Object.Object, &pod); err != nil {
		return fmt.Errorf("not a valid pod: %w", err)
	}
	srcNS := src.Object.GetNamespace()
	obj := fmt.Sprintf("pod %s/%s", pod.Namespace, pod.Name)
	if pod.Namespace != srcNS {
		obj = fmt.Sprintf("pod %s/%s (from %s)", pod.Namespace, pod.Name, srcNS)
	}
	vols := b.volumes(src, &pod, obj)

	post, inits, err := hook.RestoreHooks(&pod, &b.spec.Hooks)
	if err != nil {
		var ve *hook.ValidationError
		if !errors.As(err, &ve) {
			return fmt.Errorf("restore hooks: %w", err)
		}
		for _, p := range ve.Problems {
			if b.specProblems[p.Field+"\x00"+p.Message] {
				continue // reported once for the Restore
			}
			b.warn("%s; the pod is restored without that hook", p)
		}
	}

	var added []corev1.Container
	if len(vols) > 0 {
		added = append(added, b.waitContainer())
	}
	names := map[string]bool{api.RestoreWaitContainer: true}
	for _, c := range pod.Spec.InitContainers {
		names[c.Name] = true
	}
	for _, c := range pod.Spec.Containers {
		names[c.Name] = true
	}
	for _, h := range inits {
		if names[h.Container.Name] {
			b.warn("%s: init hook %s (%s %s): the pod already has a container named %q (from an earlier restore?); not added again",
				obj, h.Name, h.Source.Kind, h.Source.Ref, h.Container.Name)
			continue
		}
		names[h.Container.Name] = true
		if h.Timeout > 0 {
			b.warn("%s: init hook %s (container %s, %s %s): timeout %s is not enforced (Velero ignores it too); bound the command itself",
				obj, h.Name, h.Container.Name, h.Source.Kind, h.Source.Ref, h.Timeout)
		}
		added = append(added, h.Container)
	}
	if err := addInitContainers(st, added, len(vols) > 0); err != nil {
		return err
	}

	if len(vols) == 0 && len(post) == 0 {
		return nil
	}
	w := PodWork{Namespace: pod.Namespace, Name: pod.Name, SourceNamespace: srcNS, Volumes: vols}
	for i, r := range hook.ToResolved(post) {
		wait := post[i].WaitTimeout
		if wait <= 0 {
			wait = b.opt.Timeout // Velero waits without limit; every wait here has a deadline
		}
		w.Hooks = append(w.Hooks, api.RestoreExecHookSpec{ResolvedHook: r,
			WaitTimeout: metav1.Duration{Duration: wait}, WaitForReady: post[i].WaitForReady})
	}
	b.pods = append(b.pods, w)
	return nil
}

// volumes returns the pod's volumes with a snapshot in the backup, from the
// backup's per-pod report (matched by the source namespace and name).
func (b *builder) volumes(src resources.Item, pod *corev1.Pod, obj string) []api.RestoreVolume {
	srcNS, name := src.Object.GetNamespace(), src.Object.GetName()
	var res *api.PodResult
	for i := range b.doc.Pods {
		if p := &b.doc.Pods[i]; p.Namespace == srcNS && p.Name == name {
			res = p
			break
		}
	}
	if res == nil {
		return nil
	}
	specVols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		specVols[v.Name] = v
	}
	var out []api.RestoreVolume
	for _, v := range res.Volumes {
		if v.SnapshotID == "" {
			if v.Error != "" {
				// An error, not a warning: the application would start on
				// an empty volume that had data, and the restore must not
				// read Completed.
				b.fail("%s: volume %s has no data in backup %s (%s%s); it is restored empty: restore a backup in which the pod completed",
					obj, v.Name, b.doc.Backup.Name, v.Error, podWhy(res))
			}
			continue
		}
		sv, ok := specVols[v.Name]
		if !ok {
			b.warn("%s: volume %s has snapshot %s in backup %s but the pod has no such volume; its data is not restored",
				obj, v.Name, v.SnapshotID, b.doc.Backup.Name)
			continue
		}
		pvc := v.PVC
		if pvc == "" && sv.PersistentVolumeClaim != nil {
			pvc = sv.PersistentVolumeClaim.ClaimName
		}
		out = append(out, api.RestoreVolume{Name: v.Name, SnapshotID: v.SnapshotID, Source: workload.Source(src.Object, pvc, v.Name)})
	}
	return out
}

// podWhy is the pod's own reason for its backup's outcome, if any.
func podWhy(res *api.PodResult) string {
	if res.Reason == "" {
		return ""
	}
	return ": " + res.Reason
}

// waitContainer is the first init container of a pod with volume data: it
// holds the pod's other containers until the agent has filled its volumes.
// It passes the restricted Pod Security Standard.
func (b *builder) waitContainer() corev1.Container {
	no, yes, uid := false, true, int64(helperUID)
	return corev1.Container{
		Name:            api.RestoreWaitContainer,
		Image:           b.opt.HelperImage,
		ImagePullPolicy: b.opt.HelperPullPolicy,
		Args: []string{"restore-wait", "--signal-file=" + SignalMountPath + "/" + api.RestoreSignalFile,
			"--restore=" + b.opt.RestoreName, "--timeout=" + b.opt.Timeout.String()},
		VolumeMounts: []corev1.VolumeMount{{Name: api.RestoreSignalVolume, MountPath: SignalMountPath, ReadOnly: true}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid,
			AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
			Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// addInitContainers puts cs before the pod's own init containers, and the
// signal volume into its volumes when signal is set.
func addInitContainers(st *Step, cs []corev1.Container, signal bool) error {
	if len(cs) == 0 {
		return nil
	}
	spec, ok := st.Item.Object.Object["spec"].(map[string]any)
	if !ok {
		return errors.New("spec: missing or not an object")
	}
	var list []any
	for i := range cs {
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&cs[i])
		if err != nil {
			return fmt.Errorf("init container %s: %w", cs[i].Name, err)
		}
		list = append(list, m)
	}
	own, _ := spec["initContainers"].([]any)
	spec["initContainers"] = append(list, own...)
	if signal {
		vols, _ := spec["volumes"].([]any)
		spec["volumes"] = append(vols, map[string]any{"name": api.RestoreSignalVolume, "emptyDir": map[string]any{}})
	}
	return nil
}
