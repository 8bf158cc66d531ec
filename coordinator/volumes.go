package coordinator

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pod annotations that choose volumes, Velero's and ours (ours win).
const (
	AnnBackupVolumes         = "backup.velero.io/backup-volumes"
	AnnBackupVolumesExcludes = "backup.velero.io/backup-volumes-excludes"
	AnnOurBackupVolumes      = "backup.quiesce.dev/backup-volumes"
	AnnOurVolumesExcludes    = "backup.quiesce.dev/backup-volumes-excludes"
)

// SelectedVolume is a pod volume chosen for backup.
type SelectedVolume struct {
	Name string
	PVC  string // claim name when the volume is a PVC
}

// selectVolumes picks a pod's volumes the way Velero's file-system backup
// does: opt-in through the backup-volumes annotation, or every volume with
// defaultVolumesToFsBackup minus the excludes annotation. In opt-out mode the
// volumes whose content comes from the API server or the host (secrets,
// config maps, projected tokens, downward API, hostPath) are left out, as in
// Velero; listing one explicitly is honoured, except hostPath, which is not a
// pod's data and is reported as an error.
func selectVolumes(pod *corev1.Pod, defaultAll bool) ([]SelectedVolume, []string) {
	byName := map[string]*corev1.Volume{}
	for i := range pod.Spec.Volumes {
		byName[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	var problems []string
	var names []string
	key, list := AnnOurBackupVolumes, pod.Annotations[AnnOurBackupVolumes]
	if list == "" {
		key, list = AnnBackupVolumes, pod.Annotations[AnnBackupVolumes]
	}
	if !defaultAll || list != "" {
		for _, n := range splitList(list) {
			v, ok := byName[n]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("annotation %q lists volume %q, which pod spec.volumes does not have (volumes: %s)", key, n, volumeNames(pod)))
			case v.HostPath != nil:
				problems = append(problems, fmt.Sprintf("annotation %q lists hostPath volume %q: host paths are not pod data; remove it from the list", key, n))
			default:
				names = append(names, n)
			}
		}
	} else {
		exKey, ex := AnnOurVolumesExcludes, pod.Annotations[AnnOurVolumesExcludes]
		if ex == "" {
			exKey, ex = AnnBackupVolumesExcludes, pod.Annotations[AnnBackupVolumesExcludes]
		}
		excluded := map[string]bool{}
		for _, n := range splitList(ex) {
			if _, ok := byName[n]; !ok {
				problems = append(problems, fmt.Sprintf("annotation %q excludes volume %q, which pod spec.volumes does not have", exKey, n))
			}
			excluded[n] = true
		}
		for _, v := range pod.Spec.Volumes {
			if !excluded[v.Name] && isDataVolume(&v) {
				names = append(names, v.Name)
			}
		}
	}
	out := make([]SelectedVolume, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		sv := SelectedVolume{Name: n}
		if pvc := byName[n].PersistentVolumeClaim; pvc != nil {
			sv.PVC = pvc.ClaimName
		}
		out = append(out, sv)
	}
	return out, problems
}

// isDataVolume reports whether a volume holds the pod's own data.
func isDataVolume(v *corev1.Volume) bool {
	switch {
	case v.Secret != nil, v.ConfigMap != nil, v.Projected != nil, v.DownwardAPI != nil, v.HostPath != nil:
		return false
	}
	return true
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func volumeNames(pod *corev1.Pod) string {
	var n []string
	for _, v := range pod.Spec.Volumes {
		n = append(n, v.Name)
	}
	sort.Strings(n)
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}
