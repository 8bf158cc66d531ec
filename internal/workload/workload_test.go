package workload

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSource(t *testing.T) {
	ctrl := func(kind, name string) []metav1.OwnerReference {
		yes := true
		return []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}}
	}
	pod := func(name string, labels map[string]string, owners []metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: labels, OwnerReferences: owners}}
	}
	for _, tc := range []struct {
		pod       *corev1.Pod
		pvc, want string
	}{
		{pod("web-7d9f-abcde", map[string]string{"pod-template-hash": "7d9f"}, ctrl("ReplicaSet", "web-7d9f")), "", "shop/deployment/web/data"},
		{pod("rs-x1", nil, ctrl("ReplicaSet", "rs")), "", "shop/replicaset/rs/data"},
		{pod("agent-x1", nil, ctrl("DaemonSet", "agent")), "", "shop/daemonset/agent/data"},
		{pod("db-0", nil, ctrl("StatefulSet", "db")), "", "shop/pod/db-0/data"},
		{pod("db-0", nil, ctrl("StatefulSet", "db")), "data-db-0", "shop/pvc/data-db-0/data"},
		{pod("tool", nil, []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "not-controller"}}), "", "shop/pod/tool/data"},
	} {
		if got := Source(tc.pod, tc.pvc, "data"); got != tc.want {
			t.Errorf("Source(%s, %q) = %s, want %s", tc.pod.Name, tc.pvc, got, tc.want)
		}
	}
}
