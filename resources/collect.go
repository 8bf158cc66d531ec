package resources

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
)

// Cluster-scoped types stored because namespaced objects need them.
var (
	namespacesGVR   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	pvGVR           = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumes"}
	storageClassGVR = schema.GroupVersionResource{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses"}
	crdGVR          = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	kindOf          = map[schema.GroupVersionResource]string{
		namespacesGVR: "Namespace", pvGVR: "PersistentVolume", storageClassGVR: "StorageClass", crdGVR: "CustomResourceDefinition",
	}
)

const pvcResource = "persistentvolumeclaims"

// listPageSize bounds each list call, so a namespace with thousands of
// objects is read in pages rather than in one response.
const listPageSize = 500

// Collect reads the objects of scope the way Velero selects them: every
// namespaced type discovery finds (preferred versions, listable ones) in the
// included namespaces, filtered by the label selector, minus what must not be
// restored; plus the Namespaces, the PersistentVolumes bound to included
// PVCs, their StorageClasses and the CRDs of included custom resources.
// Objects come back stripped (see strip) and sorted. A type that cannot be
// listed is a warning, not an error: the other objects are still worth
// keeping.
func Collect(ctx context.Context, disco discovery.DiscoveryInterface, dyn dynamic.Interface, scope Scope) ([]Item, []string, error) {
	sel := labels.Everything()
	if scope.LabelSelector != nil {
		s, err := metav1.LabelSelectorAsSelector(scope.LabelSelector)
		if err != nil {
			return nil, nil, fmt.Errorf("spec.labelSelector: %w", err)
		}
		sel = s
	}
	c := &collector{dyn: dyn, scope: scope, sel: sel, seen: map[string]bool{}}
	lists, err := discovery.ServerPreferredResources(disco)
	if err != nil {
		var failed *discovery.ErrGroupDiscoveryFailed
		if !errors.As(err, &failed) {
			return nil, nil, fmt.Errorf("discover API resources: %w", err)
		}
		for gv, gerr := range failed.Groups {
			c.warnf("API group %s: discovery failed, its objects are not stored: %v", gv, gerr)
		}
	}
	namespaces, err := c.namespaces(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			c.warnf("API group version %q from discovery: %v", l.GroupVersion, err)
			continue
		}
		for _, r := range l.APIResources {
			gvr := gv.WithResource(r.Name)
			if strings.Contains(r.Name, "/") || !r.Namespaced || !slices.Contains(r.Verbs, "list") || skipped(gvr.GroupResource()) {
				continue
			}
			if err := c.listType(ctx, gvr, r.Kind, namespaces); err != nil {
				c.warnf("%s: not stored: %v", gvr.GroupResource(), err)
			}
		}
	}
	c.dropManagedEndpoints()
	c.addVolumes(ctx)
	c.addCRDs(ctx)
	slices.SortFunc(c.items, compareItems)
	slices.Sort(c.warnings)
	return c.items, c.warnings, nil
}

func compareItems(a, b Item) int {
	// Cluster-scoped objects first, so a reader sees Namespaces and CRDs
	// before what lives in them.
	if a.Namespaced != b.Namespaced {
		if a.Namespaced {
			return 1
		}
		return -1
	}
	return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Resource, b.Resource),
		cmp.Compare(a.Object.GetNamespace(), b.Object.GetNamespace()), cmp.Compare(a.Object.GetName(), b.Object.GetName()))
}

type collector struct {
	dyn      dynamic.Interface
	scope    Scope
	sel      labels.Selector
	items    []Item
	warnings []string
	seen     map[string]bool // cluster-scoped objects added, by "<group/resource>/<name>"
}

func (c *collector) warnf(format string, args ...any) {
	c.warnings = append(c.warnings, fmt.Sprintf(format, args...))
}

func (c *collector) add(gvr schema.GroupVersionResource, kind string, namespaced bool, o *unstructured.Unstructured) {
	strip(o)
	if o.GetAPIVersion() == "" {
		o.SetAPIVersion(gvr.GroupVersion().String())
	}
	if o.GetKind() == "" {
		o.SetKind(kind)
	}
	c.items = append(c.items, Item{Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource, Kind: kind, Namespaced: namespaced, Object: o})
}

// namespaces returns the included namespaces that exist and stores their
// Namespace objects. An included namespace that does not exist is a warning.
func (c *collector) namespaces(ctx context.Context) ([]string, error) {
	list, err := c.dyn.Resource(namespacesGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	exists := map[string]bool{}
	var out []string
	for i := range list.Items {
		ns := &list.Items[i]
		exists[ns.GetName()] = true
		if c.scope.includes(ns.GetName()) {
			out = append(out, ns.GetName())
			c.add(namespacesGVR, "Namespace", false, ns)
		}
	}
	if !c.scope.allNamespaces() {
		for _, ns := range c.scope.IncludedNamespaces {
			if !exists[ns] && c.scope.includes(ns) {
				c.warnf("namespace %s (spec.includedNamespaces) does not exist: nothing stored from it", ns)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// listType stores the selected objects of one namespaced type: one list
// across the cluster when every namespace is in scope, else one list per
// included namespace.
func (c *collector) listType(ctx context.Context, gvr schema.GroupVersionResource, kind string, namespaces []string) error {
	ri := c.dyn.Resource(gvr)
	if c.scope.allNamespaces() {
		return c.listPages(ctx, ri, gvr, kind)
	}
	for _, ns := range namespaces {
		if err := c.listPages(ctx, ri.Namespace(ns), gvr, kind); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	return nil
}

func (c *collector) listPages(ctx context.Context, ri dynamic.ResourceInterface, gvr schema.GroupVersionResource, kind string) error {
	opts := metav1.ListOptions{LabelSelector: c.sel.String(), Limit: listPageSize}
	for {
		list, err := ri.List(ctx, opts)
		if err != nil {
			return err
		}
		for i := range list.Items {
			o := &list.Items[i]
			// The selector is checked again here: it is what the backup
			// promises, whatever the server did with it.
			if !c.scope.includes(o.GetNamespace()) || !c.sel.Matches(labels.Set(o.GetLabels())) || skipObject(gvr.GroupResource(), o) {
				continue
			}
			c.add(gvr, kind, true, o)
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			return nil
		}
	}
}

// dropManagedEndpoints removes the Endpoints the endpoints controller
// writes: those of a stored Service with a selector. The Endpoints of a
// selectorless Service are the user's and stay; those with no stored
// Service would be orphans and go too.
func (c *collector) dropManagedEndpoints() {
	manual := map[string]bool{}
	for _, it := range c.items {
		if it.Group == "" && it.Resource == "services" {
			sel, _, _ := unstructured.NestedMap(it.Object.Object, "spec", "selector")
			if len(sel) == 0 {
				manual[it.Object.GetNamespace()+"/"+it.Object.GetName()] = true
			}
		}
	}
	c.items = slices.DeleteFunc(c.items, func(it Item) bool {
		return it.Group == "" && it.Resource == "endpoints" && !manual[it.Object.GetNamespace()+"/"+it.Object.GetName()]
	})
}

// addCluster stores the cluster-scoped object gvr/name once. A missing
// object is reported as false with no error.
func (c *collector) addCluster(ctx context.Context, gvr schema.GroupVersionResource, name string) (bool, error) {
	key := gvr.GroupResource().String() + "/" + name
	if c.seen[key] {
		return true, nil
	}
	o, err := c.dyn.Resource(gvr).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	c.seen[key] = true
	c.add(gvr, kindOf[gvr], false, o)
	return true, nil
}

// addVolumes stores the PersistentVolumes bound to the stored PVCs and the
// StorageClasses the PVCs and PVs name.
func (c *collector) addVolumes(ctx context.Context) {
	var classes []string
	for _, it := range slices.Clone(c.items) {
		if it.Group != "" || it.Resource != pvcResource {
			continue
		}
		pvc := it.Object
		if sc, _, _ := unstructured.NestedString(pvc.Object, "spec", "storageClassName"); sc != "" {
			classes = append(classes, sc)
		}
		pv, _, _ := unstructured.NestedString(pvc.Object, "spec", "volumeName")
		if pv == "" {
			continue // not bound yet: the restore provisions a new volume
		}
		found, err := c.addCluster(ctx, pvGVR, pv)
		switch {
		case err != nil:
			c.warnf("persistentvolumeclaim %s/%s: its PersistentVolume %s not stored: %v", pvc.GetNamespace(), pvc.GetName(), pv, err)
		case !found:
			c.warnf("persistentvolumeclaim %s/%s: its PersistentVolume %s does not exist", pvc.GetNamespace(), pvc.GetName(), pv)
		}
	}
	for _, it := range c.items {
		if it.Resource == pvGVR.Resource && it.Group == "" {
			if sc, _, _ := unstructured.NestedString(it.Object.Object, "spec", "storageClassName"); sc != "" {
				classes = append(classes, sc)
			}
		}
	}
	slices.Sort(classes)
	for _, sc := range slices.Compact(classes) {
		// A class that does not exist (any more) is not an error: the PVC
		// names it, and the restore reports it if it is still missing.
		if _, err := c.addCluster(ctx, storageClassGVR, sc); err != nil {
			c.warnf("storageclass %s: not stored: %v", sc, err)
		}
	}
}

// addCRDs stores the CustomResourceDefinition of every stored type that has
// one. Built-in and aggregated types have none (NotFound).
func (c *collector) addCRDs(ctx context.Context) {
	var names []string
	for _, it := range c.items {
		if it.Namespaced && it.Group != "" {
			names = append(names, it.GroupResource())
		}
	}
	slices.Sort(names)
	for _, n := range slices.Compact(names) {
		if _, err := c.addCluster(ctx, crdGVR, n); err != nil {
			c.warnf("customresourcedefinition %s: not stored: %v", n, err)
		}
	}
}
