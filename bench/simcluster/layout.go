// Package simcluster simulates a cluster for scale runs: nodes and their
// pods as objects on a real API server (bound and set Running by the
// harness, as kwok does, with no kubelet), and per node the real agent
// loop with the container runtime and the volume engine replaced by fakes
// that take realistic time and fail at a set rate. layout.go decides the
// cluster (pure); populate.go writes it; agents.go runs the agents;
// check.go judges the outcome (pure).
package simcluster

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quiesce-dev/quiesce/hook"
)

// Spec describes one simulated cluster.
type Spec struct {
	Nodes int
	Pods  int
	// Silent nodes run an agent pod (the coordinator assigns them pods) but
	// no agent: nothing ever answers for their pods.
	Silent int
	// Namespaces spread the pods; default 10.
	Namespaces int
	Seed       uint64
}

// Hook commands of the simulated pods; the fake runtime scripts them.
var (
	CmdFlush   = []string{"/bin/sh", "-c", "sim flush"}
	CmdUnflush = []string{"/bin/sh", "-c", "sim unflush"}
	CmdLock    = []string{"/bin/sh", "-c", "sim lock"}
	CmdUnlock  = []string{"/bin/sh", "-c", "sim unlock"}
	CmdSpec    = []string{"/bin/sh", "-c", "sim spec"}
)

// Kinds of simulated pods, by their hooks.
const (
	KindPlain   = "plain"   // a volume, no hook
	KindSingle  = "single"  // Velero's single pre and post hook
	KindList    = "list"    // our list form, two pre hooks and a post hook
	KindSpec    = "spec"    // selected by the Backup's spec hook (label)
	KindGroup   = "group"   // a consistency group member, with hooks
	KindInvalid = "invalid" // a hook timeout without a unit: fails the pod
)

// SpecHookLabel selects the pods the Backup's spec hook runs in.
const SpecHookLabel = "sim.quiesce.dev/spec-hook"

// Layout is a simulated cluster: its nodes and pods, and its groups.
type Layout struct {
	Nodes  []string
	Silent map[string]bool
	Pods   []corev1.Pod
	Kinds  map[string]string // namespace/name -> kind
	// Groups maps a group to its members' namespace/name by order.
	Groups map[string]map[string]int
}

// NodeName is the i-th simulated node's name.
func NodeName(i int) string { return fmt.Sprintf("sim-node-%03d", i) }

// Plan lays out s: pods spread evenly over the nodes, kinds in a fixed
// mix, groups of 2-10 members on different nodes. The same seed gives
// the same cluster.
func Plan(s Spec) Layout {
	r := rand.New(rand.NewPCG(s.Seed, 42))
	nss := s.Namespaces
	if nss <= 0 {
		nss = 10
	}
	l := Layout{Silent: map[string]bool{}, Kinds: map[string]string{}, Groups: map[string]map[string]int{}}
	for i := range s.Nodes {
		l.Nodes = append(l.Nodes, NodeName(i))
	}
	for i := range s.Silent {
		l.Silent[l.Nodes[len(l.Nodes)-1-i]] = true
	}
	var group string
	left := 0 // members the current group still takes
	order := 0
	for i := range s.Pods {
		ns := fmt.Sprintf("sim-%02d", i%nss)
		name := fmt.Sprintf("app-%05d", i)
		// Shifted each round, so that every node gets every kind.
		node := l.Nodes[(i+i/len(l.Nodes))%len(l.Nodes)]
		kind := kindOf(i)
		if kind == KindGroup && l.Silent[node] {
			kind = KindSingle // a group stuck on a silent node would only measure the timeout twice
		}
		if kind == KindGroup {
			ns = "sim-groups" // a group lives in one namespace; its members spread over nodes
		}
		ann := map[string]string{"backup.velero.io/backup-volumes": "data"}
		lbl := map[string]string{"app": name}
		switch kind {
		case KindSingle:
			ann["pre.hook.backup.velero.io/command"] = jsonCmd(CmdFlush)
			ann["pre.hook.backup.velero.io/container"] = "app"
			ann["post.hook.backup.velero.io/command"] = jsonCmd(CmdUnflush)
		case KindList:
			ann["pre.hook.backup.quiesce.dev/hooks"] = fmt.Sprintf("- {name: flush, container: app, command: %s}\n- {name: lock, container: sidecar, command: %s, onError: Continue}\n",
				jsonCmd(CmdFlush), jsonCmd(CmdLock))
			ann["post.hook.backup.quiesce.dev/hooks"] = fmt.Sprintf("- {name: unlock, container: sidecar, command: %s}\n", jsonCmd(CmdUnlock))
		case KindSpec:
			lbl[SpecHookLabel] = "true"
		case KindGroup:
			if left == 0 {
				group, left, order = "g-"+name, 2+r.IntN(9), 0
			}
			order++
			left--
			ann[hook.AnnGroup] = group
			ann[hook.AnnOrder] = strconv.Itoa(order)
			ann["pre.hook.backup.velero.io/command"] = jsonCmd(CmdFlush)
			ann["post.hook.backup.velero.io/command"] = jsonCmd(CmdUnflush)
			if l.Groups[ns+"/"+group] == nil {
				l.Groups[ns+"/"+group] = map[string]int{}
			}
			l.Groups[ns+"/"+group][ns+"/"+name] = order
		case KindInvalid:
			ann["pre.hook.backup.velero.io/command"] = jsonCmd(CmdFlush)
			ann["pre.hook.backup.velero.io/timeout"] = "300" // no unit: an error at its key
		}
		l.Kinds[ns+"/"+name] = kind
		l.Pods = append(l.Pods, corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann, Labels: lbl},
			Spec: corev1.PodSpec{NodeName: node,
				Containers: []corev1.Container{{Name: "app", Image: "sim"}, {Name: "sidecar", Image: "sim"}},
				Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
		})
	}
	return l
}

// kindOf is the fixed mix: in 20 pods, 4 single, 4 list, 3 spec, 5 in
// groups, 1 invalid, 3 plain.
func kindOf(i int) string {
	switch i % 20 {
	case 0, 5, 10, 15:
		return KindSingle
	case 1, 6, 11, 16:
		return KindList
	case 2, 7, 12:
		return KindSpec
	case 3, 8, 13, 18, 4:
		return KindGroup
	case 19:
		return KindInvalid
	}
	return KindPlain
}

func jsonCmd(cmd []string) string {
	out := "["
	for i, c := range cmd {
		if i > 0 {
			out += ","
		}
		out += strconv.Quote(c)
	}
	return out + "]"
}
