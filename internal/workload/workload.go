// Package workload names the stable identity of a pod volume's snapshots:
// the backup files them under it, so incremental backups survive pod
// reschedules, and the restore reports it. One rule for both sides.
package workload

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Of names the pod's owner in a way that survives the pod being recreated:
// a Deployment's ReplicaSet is named after the Deployment plus the
// pod-template-hash; StatefulSet replicas and bare pods keep their own
// stable name (each replica has its own data).
func Of(pod metav1.Object) string {
	for _, o := range pod.GetOwnerReferences() {
		if o.Controller == nil || !*o.Controller {
			continue
		}
		switch o.Kind {
		case "ReplicaSet":
			if h := pod.GetLabels()["pod-template-hash"]; h != "" && strings.HasSuffix(o.Name, "-"+h) {
				return "deployment/" + strings.TrimSuffix(o.Name, "-"+h)
			}
			return "replicaset/" + o.Name
		case "DaemonSet":
			return "daemonset/" + o.Name
		}
	}
	return "pod/" + pod.GetName()
}

// Source is the snapshot identity of one volume of pod:
// "<namespace>/pvc/<claim>/<volume>" for a claim (the data follows the
// claim, whichever pod mounts it), else "<namespace>/<Of(pod)>/<volume>".
func Source(pod metav1.Object, pvc, volume string) string {
	if pvc != "" {
		return pod.GetNamespace() + "/pvc/" + pvc + "/" + volume
	}
	return pod.GetNamespace() + "/" + Of(pod) + "/" + volume
}
