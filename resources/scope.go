package resources

import (
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Scope is the part of a Backup's spec that selects objects.
type Scope struct {
	// IncludedNamespaces: empty or "*" means every namespace.
	IncludedNamespaces []string
	// ExcludedNamespaces win over IncludedNamespaces.
	ExcludedNamespaces []string
	// LabelSelector applies to every namespaced object, as Velero's backup
	// labelSelector does; nil selects everything.
	LabelSelector *metav1.LabelSelector
}

// ScopeOf returns the object scope of b.
func ScopeOf(b *api.Backup) Scope {
	return Scope{
		IncludedNamespaces: slices.Clone(b.Spec.IncludedNamespaces),
		ExcludedNamespaces: slices.Clone(b.Spec.ExcludedNamespaces),
		LabelSelector:      b.Spec.LabelSelector.DeepCopy(),
	}
}

// allNamespaces reports whether the scope includes every namespace not
// excluded.
func (s Scope) allNamespaces() bool {
	return len(s.IncludedNamespaces) == 0 || slices.Contains(s.IncludedNamespaces, "*")
}

// includes applies Velero's namespace rules: exclusion wins.
func (s Scope) includes(ns string) bool {
	if slices.Contains(s.ExcludedNamespaces, ns) {
		return false
	}
	return s.allNamespaces() || slices.Contains(s.IncludedNamespaces, ns)
}
