package v1alpha1

import (
	"slices"
	"sort"
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
