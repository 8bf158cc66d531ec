package plan

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// mapping is spec.namespaceMapping: source namespace to target namespace.
type mapping map[string]string

func newMapping(m map[string]string) (mapping, error) {
	srcs := make([]string, 0, len(m))
	for s := range m {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs) // the same error for the same spec
	onto := map[string]string{}
	for _, s := range srcs {
		t := m[s]
		field := fmt.Sprintf("spec.namespaceMapping[%q]", s)
		if s == "" {
			return nil, fmt.Errorf("spec.namespaceMapping: empty source namespace: map a backed-up namespace's name")
		}
		if errs := validation.IsDNS1123Label(t); len(errs) > 0 {
			return nil, fmt.Errorf("%s=%q: not a valid namespace name: %s (use lowercase letters, digits and '-', at most 63 characters)",
				field, t, strings.Join(errs, "; "))
		}
		if prev, ok := onto[t]; ok {
			return nil, fmt.Errorf("%s=%q: namespaces %q and %q are both mapped onto %q: their objects would collide (map each onto its own namespace)",
				field, t, prev, s, t)
		}
		onto[t] = s
	}
	return mapping(m), nil
}

// target is the namespace ns's objects are restored into.
func (m mapping) target(ns string) string {
	if t, ok := m[ns]; ok {
		return t
	}
	return ns
}
