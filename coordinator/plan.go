package coordinator

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/internal/workload"
)

// Pod annotations of quiesce's own that shape a pod's backup; package hook
// reads and validates them (hook.BackupSettings).
const (
	AnnGroup     = hook.AnnGroup
	AnnOrder     = hook.AnnOrder
	AnnMaxFreeze = hook.AnnMaxFreeze
)

// DefaultMaxFreeze bounds a pod's freeze window when neither the Backup nor
// the pod says otherwise.
const DefaultMaxFreeze = 5 * time.Minute

// Plan is the coordinator's decision for one Backup: the complete spec of
// each node's NodeBackup, and the pods left out with the reason. Every
// default (max freeze, capture mode) is decided here and written into the
// specs, so the agent reads them and decides nothing again.
type Plan struct {
	// Nodes holds one NodeBackup spec per node, its pods in namespace/name
	// order and each pod's effective MaxFreeze set.
	Nodes map[string]api.NodeBackupSpec
	// Results holds the pods that will not reach an agent: skipped (not
	// Running) or failed (invalid hooks, no agent on their node).
	Results []api.PodResult
	// Warnings name what may go wrong with a planned pod (a liveness probe
	// shorter than the pause, a known-broken database recipe): logged and
	// recorded as Events on the Backup.
	Warnings []PlanWarning
}

// PlanWarning is one warning and the Event reason it is recorded under.
type PlanWarning struct {
	Reason  string
	Message string
}

// Event reasons of plan warnings.
const (
	ReasonPauseOutlastsLivenessProbe = "PauseOutlastsLivenessProbe"
	ReasonKnownBrokenRecipe          = "KnownBrokenRecipe"
)

// BuildPlan selects the Backup's pods among pods and assigns them to nodes.
// agentNodes is the set of nodes that run an agent. A pod is part of the
// backup when it is in scope (namespaces, label selector) and has volumes to
// back up or hooks to run.
func BuildPlan(b *api.Backup, pods []corev1.Pod, agentNodes map[string]bool) (Plan, error) {
	sel := labels.Everything()
	if b.Spec.LabelSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(b.Spec.LabelSelector)
		if err != nil {
			return Plan{}, fmt.Errorf("backup %s/%s: spec.labelSelector: %w (fix the selector)", b.Namespace, b.Name, err)
		}
		sel = s
	}
	// A broken spec hook fails the whole Backup up front, before any pod is
	// frozen, whichever pods it would have selected.
	if err := hook.ValidateBackupHooks(fmt.Sprintf("backup %s/%s", b.Namespace, b.Name), &b.Spec.Hooks); err != nil {
		return Plan{}, err
	}
	maxFreeze := DefaultMaxFreeze
	if b.Spec.MaxFreeze != nil && b.Spec.MaxFreeze.Duration > 0 {
		maxFreeze = b.Spec.MaxFreeze.Duration
	}
	mode := b.Spec.CaptureMode
	if mode == "" {
		mode = api.CaptureStaged
	}
	defaultAll := b.Spec.DefaultVolumesToFsBackup != nil && *b.Spec.DefaultVolumesToFsBackup

	plan := Plan{Nodes: map[string]api.NodeBackupSpec{}}
	sorted := slices.Clone(pods)
	sort.Slice(sorted, func(i, j int) bool {
		return sorted[i].Namespace+"/"+sorted[i].Name < sorted[j].Namespace+"/"+sorted[j].Name
	})
	inScope := sorted[:0]
	for _, pod := range sorted {
		if namespaceIncluded(pod.Namespace, b.Spec.IncludedNamespaces, b.Spec.ExcludedNamespaces) && sel.Matches(labels.Set(pod.Labels)) {
			inScope = append(inScope, pod)
		}
	}
	chosen := onePodChoices(&b.Spec.Hooks, inScope)
	for i := range inScope {
		pod := &inScope[i]
		vols, volProblems := selectVolumes(pod, defaultAll)
		pre, post, hookErr := hook.BackupHooks(pod, specFor(&b.Spec.Hooks, chosen, pod))
		if len(vols) == 0 && len(pre) == 0 && len(post) == 0 && hookErr == nil && len(volProblems) == 0 {
			continue // not opted in
		}
		res := api.PodResult{Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID), Node: pod.Spec.NodeName}
		var reasons []string
		if hookErr != nil {
			reasons = append(reasons, hookErr.Error())
		}
		for _, p := range volProblems {
			reasons = append(reasons, fmt.Sprintf("pod %s/%s: %s", pod.Namespace, pod.Name, p))
		}
		settings, err := hook.BackupSettings(pod)
		if err != nil {
			reasons = append(reasons, err.Error())
		}
		group, order, podMaxFreeze := settings.Group, settings.Order, cmp.Or(settings.MaxFreeze, maxFreeze)
		fz, warnings, err := freezeOf(pod, settings, podMaxFreeze, vols)
		if err != nil {
			reasons = append(reasons, err.Error())
		}
		switch {
		case len(reasons) > 0:
			// Nothing of this pod runs: half its hooks could freeze it
			// with no valid thaw.
			res.Phase, res.Cause, res.Reason = api.PodFailed, api.CauseInvalidSpec, strings.Join(reasons, "; ")
		case pod.Status.Phase != corev1.PodRunning:
			res.Phase, res.Reason = api.PodSkipped, fmt.Sprintf("pod phase is %s: only Running pods are backed up", orUnknown(string(pod.Status.Phase)))
		case pod.Spec.NodeName == "" || !agentNodes[pod.Spec.NodeName]:
			res.Phase, res.Cause, res.Reason = api.PodFailed, api.CauseNoAgent, fmt.Sprintf("node %q runs no quiesce agent: opt the node in (agent.nodeSelector) or exclude the pod", pod.Spec.NodeName)
		}
		a := api.PodAssignment{
			Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID),
			PreHooks: hook.ToResolved(pre), PostHooks: hook.ToResolved(post),
			MaxFreeze: &metav1.Duration{Duration: podMaxFreeze}, Pause: fz.pause, FreezeVolumes: fz.volumes,
		}
		for _, v := range vols {
			a.Volumes = append(a.Volumes, api.VolumeAssignment{Name: v.Name, PVC: v.PVC, Source: workload.Source(pod, v.PVC, v.Name)})
		}
		if res.Phase != "" {
			res.MarkUncaptured(a.Volumes)
			plan.Results = append(plan.Results, res)
			continue
		}
		for _, w := range warnings {
			plan.Warnings = append(plan.Warnings, PlanWarning{ReasonPauseOutlastsLivenessProbe, w})
		}
		for _, p := range hook.KnownBroken(fmt.Sprintf("pod %s/%s", pod.Namespace, pod.Name), append(slices.Clone(pre), post...)) {
			plan.Warnings = append(plan.Warnings, PlanWarning{ReasonKnownBrokenRecipe, p.String()})
		}
		if group != "" {
			a.Group = &api.GroupRef{Name: group, Order: order}
		}
		node := pod.Spec.NodeName
		spec, ok := plan.Nodes[node]
		if !ok {
			spec = api.NodeBackupSpec{BackupName: b.Name, NodeName: node, MaxFreeze: metav1.Duration{Duration: maxFreeze},
				CaptureMode: mode, Expiration: b.Status.Expiration}
		}
		spec.Pods = append(spec.Pods, a)
		plan.Nodes[node] = spec
	}
	return plan, nil
}

// Without drops from p the pods existing NodeBackups already hold, assigned
// or left out. A coordinator killed while it wrote a backup's NodeBackups
// plans again when it restarts, and the pods may have changed meanwhile:
// what was written stands and only the rest is added, so no pod is in two
// NodeBackups (its agent acts on one; the other would wait unreported for
// the backup's timeout) and none planned the first time is lost.
func (p Plan) Without(existing []api.NodeBackup) Plan {
	held := map[string]bool{}
	for _, nb := range existing {
		for _, a := range nb.Spec.Pods {
			held[a.UID] = true
		}
		for _, r := range nb.Spec.Results {
			held[r.UID] = true
		}
	}
	if len(held) == 0 {
		return p
	}
	out := Plan{Nodes: map[string]api.NodeBackupSpec{}, Warnings: p.Warnings}
	for node, spec := range p.Nodes {
		spec.Pods = slices.DeleteFunc(slices.Clone(spec.Pods), func(a api.PodAssignment) bool { return held[a.UID] })
		if len(spec.Pods) > 0 {
			out.Nodes[node] = spec
		}
	}
	out.Results = slices.DeleteFunc(slices.Clone(p.Results), func(r api.PodResult) bool { return held[r.UID] })
	return out
}

// onePodChoices picks, for each spec hook entry marked onePod, the first
// Running pod (by namespace/name) it selects; entries without onePod are
// absent from the result.
func onePodChoices(spec *api.BackupHooks, pods []corev1.Pod) map[int]string {
	chosen := map[int]string{}
	for i, r := range spec.Resources {
		if !r.OnePod {
			continue
		}
		one := &api.BackupHooks{Resources: []api.BackupResourceHookSpec{r}}
		one.Resources[0].OnePod = false
		for _, p := range pods {
			bare := p.DeepCopy()
			bare.Annotations = nil // does the entry select the pod, whatever its annotations?
			pre, post, _ := hook.BackupHooks(bare, one)
			if p.Status.Phase == corev1.PodRunning && len(pre)+len(post) > 0 {
				chosen[i] = string(p.UID)
				break
			}
		}
	}
	return chosen
}

// specFor is spec with the hooks of onePod entries emptied, except for the
// pod each chose (entries keep their index, so sources stay right).
func specFor(spec *api.BackupHooks, chosen map[int]string, pod *corev1.Pod) *api.BackupHooks {
	out := spec.DeepCopy()
	for i := range out.Resources {
		r := &out.Resources[i]
		if uid, one := chosen[i]; r.OnePod && (!one || uid != string(pod.UID)) {
			r.PreHooks, r.PostHooks = nil, nil
		}
	}
	return out
}

// namespaceIncluded applies Velero's namespace rules: empty or "*" includes
// all; exclusion wins.
func namespaceIncluded(ns string, included, excluded []string) bool {
	if slices.Contains(excluded, ns) {
		return false
	}
	return len(included) == 0 || slices.Contains(included, "*") || slices.Contains(included, ns)
}

func orUnknown(s string) string {
	if s == "" {
		return "Unknown"
	}
	return s
}
