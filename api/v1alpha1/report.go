package v1alpha1

import (
	"slices"
	"sort"
	"strings"
)

// BackupReport is the backup's per-pod results, sorted by namespace/name: the
// extra results (pods failed by the coordinator), the pods the plan left
// out (NodeBackups with spec.results) and the agents' reports (a pod not
// reported yet is Pending); done says whether every pod is final. It is
// what the repository stores once the backup ends.
func BackupReport(extra []PodResult, nodeBackups []NodeBackup) ([]PodResult, bool) {
	pods := slices.Clone(extra)
	done := true
	for _, nb := range nodeBackups {
		pods = append(pods, nb.Spec.Results...)
		reported := make(map[string]PodResult, len(nb.Status.Pods))
		for _, p := range nb.Status.Pods {
			reported[p.UID] = p
		}
		for _, a := range nb.Spec.Pods {
			p, ok := reported[a.UID]
			if !ok {
				p = PodResult{Namespace: a.Namespace, Name: a.Name, UID: a.UID, Phase: PodPending}
			}
			p.Node = nb.Spec.NodeName
			if !p.Phase.Final() {
				done = false
			}
			pods = append(pods, p)
		}
	}
	sort.SliceStable(pods, func(i, j int) bool {
		return pods[i].Namespace+"/"+pods[i].Name < pods[j].Namespace+"/"+pods[j].Name
	})
	return pods, done
}

// Final reports whether a pod's backup in phase p has ended.
func (p PodPhase) Final() bool {
	return p == PodCompleted || p == PodFailed || p == PodSkipped
}

// MarkUncaptured records, for each of want's volumes the pod has no
// snapshot of, a volume result with an error: a backup's report then names
// every volume it holds no data of, and a restore says so rather than
// bringing the pod back with an empty volume as if complete. Results
// already present keep their own error. The error is short (the pod's
// reason says why, once), as every byte of a status counts at scale.
func (p *PodResult) MarkUncaptured(want []VolumeAssignment) {
	why := "not backed up: the pod's backup " + strings.ToLower(string(p.Phase))
	have := make(map[string]int, len(p.Volumes))
	for i, v := range p.Volumes {
		have[v.Name] = i
	}
	for _, w := range want {
		i, ok := have[w.Name]
		if !ok {
			p.Volumes = append(p.Volumes, VolumeResult{Name: w.Name, PVC: w.PVC, Error: why})
			continue
		}
		if v := &p.Volumes[i]; v.SnapshotID == "" && v.Error == "" {
			v.Error = why
		}
	}
}
