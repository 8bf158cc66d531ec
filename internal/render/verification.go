package render

import (
	"fmt"
	"io"
	"sort"
	"strings"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Verification writes a Backup's verification (`quiesce backup verify`),
// the header then a row per pod, with the check's output when it failed or at Output detail:
//
//	Phase:        Failed (1 of 2 pods failed: pod shop/db: check exited 3)
//	Restore:      nightly-verify-0a1b2c (shop -> shop-verify-0a1b2c), 41s
//	pod shop/db (restored as shop-verify-0a1b2c/db): Failed, check container=app exit 3 in 12ms: check exited 3
//	  | corrupt
//	pod shop/web (restored as shop-verify-0a1b2c/web): Passed, no check hook
func Verification(w io.Writer, v *api.BackupVerification, o Options) {
	phase := string(v.Phase)
	if v.Reason != "" {
		phase += " (" + v.Reason + ")"
	}
	fmt.Fprintf(w, "%sPhase:        %s\n", o.Indent, phase)
	took := "-"
	if v.StartTime != nil && v.CompletionTime != nil {
		took = Duration(v.CompletionTime.Sub(v.StartTime.Time))
	}
	fmt.Fprintf(w, "%sRestore:      %s (%s), %s\n", o.Indent, orDash(v.Restore), mapping(v.NamespaceMapping), took)
	for _, p := range v.Pods {
		fmt.Fprintf(w, "%s%s\n", o.Indent, verificationRow(p))
		if o.Detail >= Output || !p.Passed { // a failed check's output is why it failed
			excerpt(w, o.Indent+"  | ", p.Output)
		}
	}
}

func verificationRow(p api.PodVerification) string {
	row := fmt.Sprintf("pod %s/%s", p.Namespace, p.Name)
	if p.RestoredNamespace != "" {
		row += fmt.Sprintf(" (restored as %s/%s)", p.RestoredNamespace, p.Name)
	}
	state := "Failed"
	if p.Passed {
		state = "Passed"
	}
	row += ": " + state
	switch {
	case p.Checked:
		exit := fmt.Sprintf("exit %d", p.ExitCode)
		if p.ExitCode < 0 {
			exit = "no exit status"
		}
		row += fmt.Sprintf(", check container=%s %s in %s", orDash(p.Container), exit, Duration(p.Duration.Duration))
	case p.Passed:
		row += ", no check hook"
	}
	if p.Error != "" {
		row += ": " + p.Error
	}
	return row
}

func mapping(m map[string]string) string {
	src := make([]string, 0, len(m))
	for k := range m {
		src = append(src, k)
	}
	sort.Strings(src)
	parts := make([]string, len(src))
	for i, k := range src {
		parts[i] = k + " -> " + m[k]
	}
	return orDash(strings.Join(parts, ", "))
}
