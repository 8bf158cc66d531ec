package coordinator

import (
	"encoding/json"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// ChunkLimits bound one NodeBackup: its pods, and the bytes of its spec
// plus the most its status can hold for them. A node with more pods gets
// several NodeBackups, so no object nears etcd's limit whatever the
// node's pod count.
type ChunkLimits struct {
	Pods  int
	Bytes int
}

// DefaultChunkLimits keep a NodeBackup well under api.MaxObjectBytes, the
// rest being left to metadata and managed fields.
var DefaultChunkLimits = ChunkLimits{Pods: 100, Bytes: 160 << 10}

// leftOutNode names the NodeBackups holding the pods the plan left out:
// they have no node, so no agent acts on them.
const leftOutNode = "left-out"

// NodeBackups turns a plan into b's NodeBackups (without owner references):
// per node, its pods in chunks within limits, in plan order; and the pods
// left out, as final results, in chunks of their own. Each holds only the
// gates of the groups its pods are in (set later by the caller).
func NodeBackups(b *api.Backup, plan Plan, limits ChunkLimits) []api.NodeBackup {
	nodes := make([]string, 0, len(plan.Nodes))
	for n := range plan.Nodes {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	var out []api.NodeBackup
	for _, node := range nodes {
		spec := plan.Nodes[node]
		for i, pods := range chunk(spec.Pods, limits, assignmentBytes) {
			s := spec
			s.Pods = pods
			s.GroupGates = nil
			out = append(out, nodeBackup(b, node, node, i, s))
		}
	}
	for i, res := range chunk(plan.Results, limits, resultBytes) {
		out = append(out, nodeBackup(b, leftOutNode, "", i, api.NodeBackupSpec{BackupName: b.Name, Pods: []api.PodAssignment{}, Results: res}))
	}
	return out
}

// ChunkName is the name of a Backup's i-th NodeBackup for a node: the
// first keeps the name of a NodeBackup before chunks existed.
func ChunkName(backup, node string, i int) string {
	if i == 0 {
		return backup + "-" + node
	}
	return fmt.Sprintf("%s-%s-part%d", backup, node, i)
}

// renameTaken gives each of nbs whose name existing already has the next
// free chunk name of its node (see Plan.Without).
func renameTaken(backup string, nbs, existing []api.NodeBackup) {
	taken := make(map[string]bool, len(existing)+len(nbs))
	for _, nb := range existing {
		taken[nb.Name] = true
	}
	for i := range nbs {
		nb := &nbs[i]
		if !taken[nb.Name] {
			taken[nb.Name] = true
			continue
		}
		node := nb.Labels[LabelNode]
		if node == "" {
			node = leftOutNode
		}
		for j := 1; ; j++ {
			if name := ChunkName(backup, node, j); !taken[name] {
				nb.Name = name
				taken[name] = true
				break
			}
		}
	}
}

func nodeBackup(b *api.Backup, nameNode, node string, i int, spec api.NodeBackupSpec) api.NodeBackup {
	return api.NodeBackup{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.Namespace, Name: ChunkName(b.Name, nameNode, i),
			Labels: map[string]string{LabelBackup: b.Name, LabelNode: node}},
		Spec: spec,
	}
}

// chunk splits items, in order, into runs within limits; an item larger
// than limits.Bytes on its own still gets a chunk (alone).
func chunk[T any](items []T, limits ChunkLimits, size func(T) int) [][]T {
	var out [][]T
	var cur []T
	bytes := 0
	for _, it := range items {
		n := size(it)
		if len(cur) > 0 && (len(cur) >= limits.Pods || bytes+n > limits.Bytes) {
			out = append(out, cur)
			cur, bytes = nil, 0
		}
		cur = append(cur, it)
		bytes += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// assignmentBytes is a pod's share of a NodeBackup: its assignment as
// written, and the most its compact result can take in the status.
func assignmentBytes(a api.PodAssignment) int {
	return jsonSize(a) + resultBound(a)
}

// resultBound is the most a pod's compact result (api.PodResult.Compact)
// can take: fixed fields and reason, a record per hook attempt (a held
// hook has two), one per volume.
func resultBound(a api.PodAssignment) int {
	const fixed, perHook, perVolume = 1024, 512, 512
	n := fixed + 2*len(a.Namespace+a.Name+a.UID) + api.MaxMessageBytes
	for _, h := range slices.Concat(a.PreHooks, a.PostHooks) {
		n += 2 * (1 + h.Retries) * (perHook + api.MaxHookErrorBytes + len(h.Name+h.Source+h.Container))
	}
	for _, v := range a.Volumes {
		n += perVolume + api.MaxHookErrorBytes + len(v.Name+v.PVC)
	}
	return n
}

func resultBytes(r api.PodResult) int { return jsonSize(r) }

func jsonSize(v any) int {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0 // plain data: never fails
	}
	return len(raw)
}

// gatesFor keeps the gates of the groups nb's pods are in: a NodeBackup
// carries (and is rewritten for) its own groups only.
func gatesFor(nb *api.NodeBackup, gates []api.GroupGate) []api.GroupGate {
	mine := map[string]bool{}
	for _, a := range nb.Spec.Pods {
		if a.Group != nil {
			mine[a.Group.Name] = true
		}
	}
	out := []api.GroupGate{}
	for _, g := range gates {
		if mine[g.Group] {
			out = append(out, g)
		}
	}
	return out
}
