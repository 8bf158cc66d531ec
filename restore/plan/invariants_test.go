package plan

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/workload"
)

// Whatever the spec selects, the plan keeps the promises the runner and the
// agents rely on.
func TestPlanInvariants(t *testing.T) {
	velero, err := api.DecodeRestore([]byte(veleroRestore))
	if err != nil {
		t.Fatal(err)
	}
	specs := map[string]api.RestoreSpec{
		"everything":    {},
		"velero":        velero.Spec,
		"mapped":        {NamespaceMapping: map[string]string{"shop": "shop-b", "other": "other-b"}},
		"selector":      {LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
		"no pods":       {ExcludedResources: []string{"pods"}},
		"only pods":     {IncludedResources: []string{"pods"}, NamespaceMapping: map[string]string{"shop": "x"}},
		"one namespace": {IncludedNamespaces: []string{"other"}},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			spec.BackupName = "nightly-1"
			p := mustBuild(t, shopDoc(t), &spec)
			rank := -1
			namespaces := map[string]bool{}
			pods := map[string]Step{}
			for _, s := range p.Steps {
				obj := s.Item.Object
				if obj.GetLabels()[api.LabelRestore] != "r1" || len(obj.GetOwnerReferences()) != 0 || obj.GetUID() != "" {
					t.Errorf("%s: label, owner references or uid wrong", key(s.Item))
				}
				r, ok := rankOf[s.Item.GroupResource()]
				if !ok {
					r = len(creationOrder)
				}
				if r < rank {
					t.Errorf("%s: out of order", key(s.Item))
				}
				rank = r
				switch s.Item.GroupResource() {
				case "namespaces":
					namespaces[obj.GetName()] = true
				case "pods":
					pods[obj.GetNamespace()+"/"+obj.GetName()] = s
				}
				if ns := obj.GetNamespace(); ns != "" && !namespaces[ns] {
					t.Errorf("%s: its namespace is not created before it", key(s.Item))
				}
			}
			work := map[string]PodWork{}
			for _, w := range p.Pods {
				work[w.Namespace+"/"+w.Name] = w
				if _, ok := pods[w.Namespace+"/"+w.Name]; !ok {
					t.Errorf("pod work for %s/%s, which is not created", w.Namespace, w.Name)
				}
				for _, h := range w.Hooks {
					if h.WaitTimeout.Duration <= 0 || h.Timeout.Duration <= 0 {
						t.Errorf("pod %s/%s hook %s: wait %s exec %s: every wait needs a deadline", w.Namespace, w.Name, h.Name, h.WaitTimeout, h.Timeout)
					}
				}
			}
			for k, s := range pods {
				pod := podOf(t, s)
				hasWait := len(pod.Spec.InitContainers) > 0 && pod.Spec.InitContainers[0].Name == api.RestoreWaitContainer
				n := 0
				for _, c := range pod.Spec.InitContainers {
					if c.Name == api.RestoreWaitContainer {
						n++
					}
				}
				if hasWait != (len(work[k].Volumes) > 0) || n > 1 {
					t.Errorf("pod %s: wait container first %v (%d of them), volumes %v", k, hasWait, n, work[k].Volumes)
				}
				names := map[string]bool{}
				for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
					if names[c.Name] {
						t.Errorf("pod %s: container name %s twice", k, c.Name)
					}
					names[c.Name] = true
				}
			}
		})
	}
}

// The snapshot source must be the one the coordinator gave the volume.
func TestSnapshotSource(t *testing.T) {
	const pods = `
apiVersion: v1
kind: Pod
metadata:
  name: web-5d8f7c9b-x2k4p
  namespace: shop
  labels: {pod-template-hash: 5d8f7c9b}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d8f7c9b, uid: u, controller: true}]
---
apiVersion: v1
kind: Pod
metadata:
  name: bare-rs-abcde
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: bare-rs, uid: u, controller: true}]
---
apiVersion: v1
kind: Pod
metadata:
  name: agent-x1
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: u, controller: true}]
---
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: u, controller: true}]
---
apiVersion: v1
kind: Pod
metadata:
  name: owned-not-controller
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: agent, uid: u}]
`
	want := []string{"shop/deployment/web/v", "shop/replicaset/bare-rs/v", "shop/daemonset/agent/v", "shop/pod/db-0/v", "shop/pod/owned-not-controller/v"}
	for i, it := range items(t, pods) {
		if got := workload.Source(it.Object, "", "v"); got != want[i] {
			t.Errorf("%s: source %q, want %q", it.Object.GetName(), got, want[i])
		}
		if got := workload.Source(it.Object, "claim", "v"); got != "shop/pvc/claim/v" {
			t.Errorf("%s with a claim: source %q", it.Object.GetName(), got)
		}
	}
}
