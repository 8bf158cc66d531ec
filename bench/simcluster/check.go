package simcluster

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Step is a point of a pod's freeze the trace records.
type Step int

const (
	StepFreezeStart Step = iota
	StepFrozen
	StepCapture
	StepThawStart
	StepThawed
)

// Trace orders the steps of every pod's freeze across all agents by a
// sequence number: the order, not the clock, is what a check may use.
type Trace struct {
	mu    sync.Mutex
	seq   int
	steps map[string]map[Step]int // backup/namespace/name -> step -> seq (first)
}

// NewTrace returns an empty trace.
func NewTrace() *Trace { return &Trace{steps: map[string]map[Step]int{}} }

func (t *Trace) add(backup string, pod *api.PodAssignment, s Step) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	k := backup + "/" + pod.Namespace + "/" + pod.Name
	if t.steps[k] == nil {
		t.steps[k] = map[Step]int{}
	}
	if _, ok := t.steps[k][s]; !ok {
		t.steps[k][s] = t.seq
	}
}

// snapshot is backup's steps by namespace/name.
func (t *Trace) snapshot(backup string) map[string]map[Step]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]map[Step]int, len(t.steps))
	for bk, v := range t.steps {
		k, ok := strings.CutPrefix(bk, backup+"/")
		if !ok {
			continue
		}
		m := make(map[Step]int, len(v))
		for s, n := range v {
			m[s] = n
		}
		out[k] = m
	}
	return out
}

// Check judges the finished backup of l named backup from its per-pod
// report and the trace: every pod of l is in the report and final; every group whose
// members all completed froze in ascending order, captured only once all
// were frozen, and thawed in descending order. It returns what is wrong.
func Check(l Layout, backup string, report []api.PodResult, t *Trace) []string {
	var bad []string
	byName := map[string]api.PodResult{}
	for _, p := range report {
		byName[p.Namespace+"/"+p.Name] = p
	}
	for _, p := range l.Pods {
		k := p.Namespace + "/" + p.Name
		r, ok := byName[k]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("pod %s: not in the report", k))
		case !r.Phase.Final():
			bad = append(bad, fmt.Sprintf("pod %s: %s, not final", k, r.Phase))
		case r.Phase == api.PodFailed && (r.Cause == "" || r.Reason == ""):
			bad = append(bad, fmt.Sprintf("pod %s: failed without a cause and a reason", k))
		case l.Kinds[k] == KindInvalid && (r.Phase != api.PodFailed || r.Cause != api.CauseInvalidSpec):
			bad = append(bad, fmt.Sprintf("pod %s: invalid hooks, but %s (%s)", k, r.Phase, r.Cause))
		case l.Silent[p.Spec.NodeName] && l.Kinds[k] != KindInvalid && r.Cause != api.CauseBackupTimeout:
			bad = append(bad, fmt.Sprintf("pod %s on a silent node: %s (%s), want failed by the backup's timeout", k, r.Phase, r.Cause))
		}
	}
	steps := t.snapshot(backup)
	groups := make([]string, 0, len(l.Groups))
	for g := range l.Groups {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		members := l.Groups[g]
		complete := true
		for m := range members {
			if byName[m].Phase != api.PodCompleted {
				complete = false
			}
		}
		if !complete {
			continue // an aborted group thaws at once: no order to check
		}
		bad = append(bad, groupOrder(g, members, steps)...)
	}
	return bad
}

func groupOrder(g string, members map[string]int, steps map[string]map[Step]int) []string {
	var bad []string
	lastFrozen := 0
	for m := range members {
		lastFrozen = max(lastFrozen, steps[m][StepFrozen])
	}
	for a, oa := range members {
		if c := steps[a][StepCapture]; c < lastFrozen {
			bad = append(bad, fmt.Sprintf("group %s: %s captured before every member was frozen", g, a))
		}
		for b, ob := range members {
			if oa >= ob {
				continue
			}
			if steps[a][StepFrozen] > steps[b][StepFreezeStart] {
				bad = append(bad, fmt.Sprintf("group %s: %s (order %d) began freezing before %s (order %d) was frozen", g, b, ob, a, oa))
			}
			if steps[b][StepThawed] > steps[a][StepThawStart] {
				bad = append(bad, fmt.Sprintf("group %s: %s (order %d) began thawing before %s (order %d) was thawed", g, a, oa, b, ob))
			}
		}
	}
	return bad
}

func metav1Duration(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }
