package hook

import (
	"fmt"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a hook declaration. Its String names the
// object, then the field (annotation key or spec path) and value, then what
// is wrong and how to fix it:
//
//	pod shop/db-0: annotation "pre.hook.backup.velero.io/timeout"="300": not a duration (use e.g. "300s")
type Problem struct {
	// Object is "pod shop/db-0", "statefulset shop/db" or "backup velero/nightly".
	Object string `json:"object"`
	// Field is `annotation "<key>"` (with a "[i].field" suffix inside a list
	// annotation) or a spec path such as "spec.hooks.resources[0].pre[1].exec.timeout".
	Field string `json:"field"`
	// Value is the offending value, if any.
	Value   string `json:"value,omitempty"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

const maxValueInMessage = 80

func (p Problem) String() string {
	var b strings.Builder
	if p.Object != "" {
		b.WriteString(p.Object)
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		if p.Value != "" {
			v := p.Value
			if len(v) > maxValueInMessage {
				v = v[:maxValueInMessage] + "..."
			}
			b.WriteString("=")
			b.WriteString(strconv.Quote(v))
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Fix != "" {
		b.WriteString(" (")
		b.WriteString(p.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// ValidationError holds every problem found in one resolution, so a user
// fixes them all in one round.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	switch len(e.Problems) {
	case 0:
		return "no problems"
	case 1:
		return e.Problems[0].String()
	}
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("%d problems: %s", len(e.Problems), strings.Join(parts, "; "))
}

// problems collects Problems for one object.
type problems struct {
	list []Problem
}

func (ps *problems) add(p Problem) { ps.list = append(ps.list, p) }

func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps.list}
}

func annField(key string) string { return fmt.Sprintf("annotation %q", key) }
