package coordinator

import (
	"fmt"
	"reflect"
	"slices"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

type member struct {
	pod   string
	order int
	phase api.PodPhase
	// seen: the member's agent has reported it (Pending while it waits
	// for its turn), so it has the work and its turn will be taken.
	seen bool
}

// Gates computes every consistency group's gate from the members' phases
// across all of a Backup's NodeBackups: members freeze level by level in
// ascending order, capture once all are frozen, and thaw level by level in
// descending order once all are captured. A member that fails before the
// group is captured aborts the group. A group gets no gate at all (none of
// its members freezes) until every member's agent has reported it: a
// member frozen while another node's agent is down or still starting would
// stay frozen until its deadline aborted the group.
func Gates(nbs []api.NodeBackup) []api.GroupGate {
	groups := map[string][]member{}
	for _, nb := range nbs {
		phases := map[string]api.PodPhase{}
		for _, p := range nb.Status.Pods {
			phases[p.UID] = p.Phase
		}
		for _, a := range nb.Spec.Pods {
			if a.Group == nil {
				continue
			}
			ph, seen := phases[a.UID]
			if ph == "" {
				ph = api.PodPending
			}
			groups[a.Group.Name] = append(groups[a.Group.Name], member{pod: a.Namespace + "/" + a.Name, order: a.Group.Order, phase: ph, seen: seen})
		}
	}
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
	}
	slices.Sort(names)
	prev := map[string]api.GroupGate{}
	for _, nb := range nbs {
		for _, g := range nb.Spec.GroupGates {
			prev[g.Group] = g
		}
	}
	gates := make([]api.GroupGate, 0, len(names))
	for _, n := range names {
		p, opened := prev[n]
		if g, ok := gate(n, groups[n], p, opened); ok {
			gates = append(gates, g)
		}
	}
	return gates
}

// gate computes one group's gate, if it has one yet. What the previous
// gate let through stays let through: members move on (a captured member
// thaws, uploads, may fail in its upload) and must not close a gate behind
// them.
func gate(name string, ms []member, prev api.GroupGate, opened bool) (api.GroupGate, bool) {
	if prev.Abort {
		return prev, true
	}
	g := api.GroupGate{Group: name}
	levels := map[int][]member{}
	var orders []int
	for _, m := range ms {
		if _, ok := levels[m.order]; !ok {
			orders = append(orders, m.order)
		}
		levels[m.order] = append(levels[m.order], m)
	}
	slices.Sort(orders)
	all := func(pred func(api.PodPhase) bool, level []member) bool {
		for _, m := range level {
			if !pred(m.phase) {
				return false
			}
		}
		return true
	}
	allCaptured := prev.ThawDownTo != nil || all(captured, ms)
	if !allCaptured {
		for _, m := range ms {
			if m.phase == api.PodFailed {
				g.Abort, g.Reason = true, fmt.Sprintf("consistency group %s: pod %s failed before the group was captured", name, m.pod)
				return g, true
			}
		}
	}
	if !opened && slices.ContainsFunc(ms, func(m member) bool { return !m.seen }) {
		return api.GroupGate{}, false
	}
	g.FreezeUpTo = max(orders[0], prev.FreezeUpTo)
	for _, o := range orders {
		if o < g.FreezeUpTo {
			continue
		}
		g.FreezeUpTo = o
		if !all(frozen, levels[o]) {
			break
		}
	}
	g.Capture = prev.Capture || all(frozen, ms)
	if allCaptured {
		for _, o := range slices.Backward(orders) {
			if prev.ThawDownTo != nil && o > *prev.ThawDownTo {
				continue
			}
			down := o
			g.ThawDownTo = &down
			if !all(thawed, levels[o]) {
				break
			}
		}
	}
	return g, true
}

func frozen(p api.PodPhase) bool {
	switch p {
	case api.PodFrozen, api.PodCapturing, api.PodCaptured, api.PodThawing, api.PodUploading, api.PodCompleted:
		return true
	}
	return false
}

func captured(p api.PodPhase) bool {
	switch p {
	case api.PodCaptured, api.PodThawing, api.PodUploading, api.PodCompleted:
		return true
	}
	return false
}

func thawed(p api.PodPhase) bool {
	return p == api.PodUploading || p == api.PodCompleted || p == api.PodFailed
}

// gatesChanged reports whether nb's gates differ from want.
func gatesChanged(nb *api.NodeBackup, want []api.GroupGate) bool {
	if len(nb.Spec.GroupGates) == 0 && len(want) == 0 {
		return false
	}
	return !reflect.DeepEqual(nb.Spec.GroupGates, want)
}
