package plan

import (
	"errors"
	"fmt"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/hook"
	"github.com/quiesce-dev/quiesce/resources"
)

// Build plans the restore of doc under spec. It never changes doc or spec.
//
// Selection follows Velero: namespace filters match the source namespace,
// resource filters match "<plural>" or "<plural>.<group>", the label
// selector matches each object's labels. Objects that must never be
// recreated (events, nodes, endpoints, leases, finished or mirror pods,
// service-account tokens, quiesce's and Velero's own objects) go to
// Plan.Skipped with the reason. Cluster-scoped objects are restored only
// when a restored object needs them (see clusterScoped).
//
// The Namespace of every namespace a restored object lands in is always
// planned, whatever the filters say, as Velero creates it: from the backup's
// Namespace object when there is one, else a bare one.
//
// Hook problems are warnings: the pod is restored with the hooks that had
// none (restore hooks have no freeze/thaw pairing that a dropped hook could
// break, unlike backup hooks).
func Build(doc *resources.Document, spec *api.RestoreSpec, opt Options) (*Plan, error) {
	if doc == nil {
		return nil, errors.New("restore plan: no backup document given")
	}
	if spec == nil {
		return nil, errors.New("restore plan: no restore spec given")
	}
	if opt.RestoreName == "" {
		return nil, errors.New("restore plan: options: RestoreName is empty: set it to the Restore's name (used in the restore label)")
	}
	if opt.Timeout <= 0 {
		return nil, fmt.Errorf("restore %s: options: Timeout is %s: set a positive duration (the restore's budget, e.g. 1h)", opt.RestoreName, opt.Timeout)
	}
	if opt.HelperImage == "" && hasSnapshots(doc.Pods) {
		return nil, fmt.Errorf("restore %s: options: HelperImage is empty: set the quiesce image that runs the wait init container", opt.RestoreName)
	}
	switch spec.ExistingResourcePolicy {
	case "", api.ExistingResourcePolicyNone, api.ExistingResourcePolicyUpdate:
	default:
		return nil, fmt.Errorf("restore %s: spec.existingResourcePolicy %q: use %q (leave existing objects alone, the default) or %q",
			opt.RestoreName, spec.ExistingResourcePolicy, api.ExistingResourcePolicyNone, api.ExistingResourcePolicyUpdate)
	}
	f, err := newFilter(spec)
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", opt.RestoreName, err)
	}
	m, err := newMapping(spec.NamespaceMapping)
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", opt.RestoreName, err)
	}
	b := &builder{doc: doc, spec: spec, opt: opt, f: f, m: m, seen: map[string]bool{}, specProblems: map[string]bool{}}
	b.validateHooks()
	if err := b.build(); err != nil {
		return nil, fmt.Errorf("restore %s: %w", opt.RestoreName, err)
	}
	return b.plan(), nil
}

// builder holds one Build's state.
type builder struct {
	doc  *resources.Document
	spec *api.RestoreSpec
	opt  Options
	f    *filter
	m    mapping

	steps    []Step
	pods     []PodWork
	skipped  []api.RestoredItem
	warnings []string
	errors   []string
	seen     map[string]bool // key(): drops duplicate items
	// specProblems are the spec hooks' own problems (field and message),
	// reported once for the Restore rather than once per pod.
	specProblems map[string]bool
}

// validateHooks reports the problems of the spec hooks themselves, once,
// whatever pods their entries select.
func (b *builder) validateHooks() {
	err := hook.ValidateRestoreHooks("restore "+b.opt.RestoreName, &b.spec.Hooks)
	var ve *hook.ValidationError
	if !errors.As(err, &ve) {
		return
	}
	for _, p := range ve.Problems {
		b.specProblems[p.Field+"\x00"+p.Message] = true
		b.warn("%s; that hook is not run", p)
	}
}

func (b *builder) warn(format string, args ...any) {
	b.warnings = append(b.warnings, fmt.Sprintf(format, args...))
}

// fail records a problem that leaves the restore incomplete (it ends
// PartiallyFailed) without stopping it.
func (b *builder) fail(format string, args ...any) {
	b.errors = append(b.errors, fmt.Sprintf(format, args...))
}

func (b *builder) skip(it resources.Item, why string) {
	ns := it.Object.GetNamespace()
	if ns != "" {
		ns = b.m.target(ns)
	}
	b.skipped = append(b.skipped, api.RestoredItem{Resource: it.GroupResource(), Namespace: ns,
		Name: it.Object.GetName(), Outcome: api.ItemSkipped, Message: why})
}

func (b *builder) build() error {
	// Pass 1: namespaced objects, whose choice decides which cluster-scoped
	// objects (Namespaces, PVs) are needed.
	var cluster []resources.Item
	restoredNS := map[string]bool{}   // source namespaces with a restored object
	claimed := map[string]bool{}      // "ns/pvc" of restored PVCs (source namespace)
	namespaceObj := map[string]bool{} // source namespaces with a Namespace object in the doc
	for i, it := range b.doc.Items {
		if it.Object == nil {
			b.warn("item %d (%s): no object stored; not restored", i, it.GroupResource())
			continue
		}
		if !it.Namespaced {
			if it.GroupResource() == "namespaces" {
				namespaceObj[it.Object.GetName()] = true
			}
			cluster = append(cluster, it)
			continue
		}
		ns := it.Object.GetNamespace()
		if ns == "" {
			b.warn("%s %s: namespaced object stored without a namespace; not restored", it.GroupResource(), it.Object.GetName())
			continue
		}
		if !b.f.namespace(ns) || !b.f.resource(it) {
			continue
		}
		if why := neverRestored(it); why != "" {
			b.skip(it, why)
			continue
		}
		if !b.f.labels(it.Object) {
			continue
		}
		if !b.add(it) {
			continue
		}
		restoredNS[ns] = true
		if it.GroupResource() == "persistentvolumeclaims" {
			claimed[ns+"/"+it.Object.GetName()] = true
		}
	}
	for _, ns := range sortedKeys(restoredNS) {
		if t := b.m.target(ns); t != ns && restoredNS[t] && b.m.target(t) == t {
			b.warn("namespace %s is restored into %s, which is also restored as itself: objects with the same name collide (map %s elsewhere too, or exclude one)", ns, t, t)
		}
	}
	// Pass 2: cluster-scoped objects.
	for _, it := range cluster {
		if why := neverRestored(it); why != "" {
			b.skip(it, why)
			continue
		}
		keep, why := b.clusterScoped(it, restoredNS, claimed)
		switch {
		case why != "":
			b.skip(it, why)
		case keep:
			b.add(it)
		}
	}
	// Namespaces restored objects land in but the backup has no object of.
	for _, ns := range sortedKeys(restoredNS) {
		if !namespaceObj[ns] {
			b.add(bareNamespace(ns))
		}
	}
	return nil
}

// add transforms it and appends its step (and its pod work); false when it
// is a duplicate or cannot be transformed.
func (b *builder) add(it resources.Item) bool {
	k := key(it)
	if b.seen[k] {
		b.warn("%s: stored twice; restored once", k)
		return false
	}
	b.seen[k] = true
	src := it.Object.GetNamespace()
	out := it
	out.Object = it.Object.DeepCopy()
	if err := b.transform(&out); err != nil {
		b.warn("%s: %v; not restored", k, err)
		return false
	}
	st := Step{Item: out, SourceNamespace: src}
	if out.GroupResource() == "customresourcedefinitions.apiextensions.k8s.io" {
		st.WaitEstablished = true
	}
	if out.GroupResource() == "pods" {
		if err := b.podWork(it, &st); err != nil {
			b.warn("%s: %v; not restored", k, err)
			return false
		}
	}
	b.steps = append(b.steps, st)
	return true
}

// key names an item in warnings: "<group-resource> <ns>/<name>" with the
// source namespace.
func key(it resources.Item) string {
	if ns := it.Object.GetNamespace(); ns != "" {
		return it.GroupResource() + " " + ns + "/" + it.Object.GetName()
	}
	return it.GroupResource() + " " + it.Object.GetName()
}

func bareNamespace(name string) resources.Item {
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion("v1")
	obj.SetKind("Namespace")
	obj.SetName(name)
	return resources.Item{Version: "v1", Resource: "namespaces", Kind: "Namespace", Object: obj}
}

func (b *builder) plan() *Plan {
	p := &Plan{Steps: b.steps, Pods: b.pods, Skipped: b.skipped, Warnings: dedupe(b.warnings), Errors: b.errors}
	sortSteps(p.Steps, crdGroups(b.doc))
	sort.SliceStable(p.Pods, func(i, j int) bool {
		if p.Pods[i].Namespace != p.Pods[j].Namespace {
			return p.Pods[i].Namespace < p.Pods[j].Namespace
		}
		return p.Pods[i].Name < p.Pods[j].Name
	})
	sort.SliceStable(p.Skipped, func(i, j int) bool {
		a, c := p.Skipped[i], p.Skipped[j]
		if a.Resource != c.Resource {
			return a.Resource < c.Resource
		}
		if a.Namespace != c.Namespace {
			return a.Namespace < c.Namespace
		}
		return a.Name < c.Name
	})
	return p
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func hasSnapshots(pods []api.PodResult) bool {
	for _, p := range pods {
		for _, v := range p.Volumes {
			if v.SnapshotID != "" {
				return true
			}
		}
	}
	return false
}

func dedupe(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
