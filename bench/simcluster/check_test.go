package simcluster

import (
	"strings"
	"testing"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func TestPlanMixesKindsAndSpreadsGroupsOverNodes(t *testing.T) {
	l := Plan(Spec{Nodes: 20, Pods: 200, Silent: 2, Seed: 7})
	kinds := map[string]int{}
	for _, k := range l.Kinds {
		kinds[k]++
	}
	for _, k := range []string{KindPlain, KindSingle, KindList, KindSpec, KindGroup, KindInvalid} {
		if kinds[k] == 0 {
			t.Errorf("no %s pod in %v", k, kinds)
		}
	}
	node := map[string]string{}
	for _, p := range l.Pods {
		node[p.Namespace+"/"+p.Name] = p.Spec.NodeName
	}
	for g, ms := range l.Groups {
		nodes := map[string]bool{}
		for m := range ms {
			nodes[node[m]] = true
			if l.Silent[node[m]] {
				t.Errorf("group %s has %s on a silent node", g, m)
			}
		}
		if len(ms) < 2 && len(l.Groups) > 1 || len(nodes) < 2 && len(ms) > 1 {
			t.Errorf("group %s: %d members on %d nodes", g, len(ms), len(nodes))
		}
	}
	if len(l.Silent) != 2 {
		t.Errorf("silent nodes %v", l.Silent)
	}
}

// Check finds a group thawed out of order and a pod left running.
func TestCheckFindsDisorder(t *testing.T) {
	l := Layout{Kinds: map[string]string{}, Silent: map[string]bool{}, Groups: map[string]map[string]int{"ns/g": {"ns/a": 1, "ns/b": 2}}}
	for _, n := range []string{"a", "b", "c"} {
		p := Plan(Spec{Nodes: 1, Pods: 1}).Pods[0]
		p.Namespace, p.Name = "ns", n
		l.Pods = append(l.Pods, p)
	}
	report := []api.PodResult{{Namespace: "ns", Name: "a", Phase: api.PodCompleted}, {Namespace: "ns", Name: "b", Phase: api.PodCompleted},
		{Namespace: "ns", Name: "c", Phase: api.PodUploading}}
	tr := NewTrace()
	a, b := &api.PodAssignment{Namespace: "ns", Name: "a"}, &api.PodAssignment{Namespace: "ns", Name: "b"}
	for _, s := range []struct {
		p    *api.PodAssignment
		step Step
	}{{a, StepFreezeStart}, {a, StepFrozen}, {b, StepFreezeStart}, {b, StepFrozen}, {a, StepCapture}, {b, StepCapture},
		{a, StepThawStart}, {a, StepThawed}, {b, StepThawStart}, {b, StepThawed}} { // a thaws first: wrong
		tr.add("b", s.p, s.step)
	}
	got := strings.Join(Check(l, "b", report, tr), "\n")
	for _, want := range []string{"pod ns/c: Uploading, not final", "group ns/g: ns/a (order 1) began thawing before ns/b (order 2) was thawed"} {
		if !strings.Contains(got, want) {
			t.Errorf("check lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "freezing") || strings.Contains(got, "captured before") {
		t.Errorf("check reports an ordered freeze as disorder:\n%s", got)
	}
}
