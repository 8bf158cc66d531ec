package hook

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// BackupLevelHook is one resolved hook of spec.hooks.backup: it runs once
// per backup (not per pod) in one pod, the first Running pod by name of
// Namespace that Selector matches.
type BackupLevelHook struct {
	// Hook holds the name, phase (PreBackup or PostBackup), source,
	// container (empty: the selected pod's first), command, timeout,
	// onError and, for post hooks, when.
	Hook
	Namespace string
	Selector  labels.Selector
}

// BackupLevelHooks resolves the backup-level hooks of a Backup's spec
// hooks; object names the Backup in problems ("backup velero/nightly").
// A non-nil err is a *ValidationError with every problem, and the hooks
// are then nil: nothing of a Backup with a broken backup-level hook runs.
func BackupLevelHooks(object string, spec *v1alpha1.BackupHooks) (pre, post []BackupLevelHook, err error) {
	t := Target{Object: object}
	var ps problems
	pre, post = t.backupLevelHooks(spec, &ps)
	if err := ps.err(); err != nil {
		return nil, nil, err
	}
	return pre, post, nil
}

// backupLevelHooks validates and resolves spec.hooks.backup, adding its
// problems to ps.
func (t *Target) backupLevelHooks(spec *v1alpha1.BackupHooks, ps *problems) (pre, post []BackupLevelHook) {
	if spec == nil || spec.Backup == nil {
		return nil, nil
	}
	base := t.specPath() + ".backup"
	pre = t.backupLevelList(spec.Backup.Pre, PreBackup, base+".pre", ps)
	post = t.backupLevelList(spec.Backup.Post, PostBackup, base+".post", ps)
	return pre, post
}

func (t *Target) backupLevelList(list []v1alpha1.BackupLevelHook, phase Phase, lpath string, ps *problems) []BackupLevelHook {
	obj := t.specObject()
	seen := map[string]int{}
	var out []BackupLevelHook
	for i, in := range list {
		hpath := fmt.Sprintf("%s[%d]", lpath, i)
		bad := false
		fail := func(field, value, msg, fix string) {
			ps.add(Problem{Object: obj, Field: hpath + field, Value: value, Message: msg, Fix: fix})
			bad = true
		}
		h := BackupLevelHook{Hook: Hook{Name: in.Name, Phase: phase, Source: Source{Kind: "spec", Ref: hpath},
			Container: in.Container, Timeout: DefaultTimeout, OnError: Fail, Mode: Exec}, Namespace: in.Namespace}
		if h.Name == "" {
			h.Name = fmt.Sprintf("%s[%d]", phase, i)
		}
		if j, dup := seen[h.Name]; dup {
			fail(".name", h.Name, fmt.Sprintf("duplicate name (also %s[%d])", lpath, j),
				"give each hook of the list its own name: the Backup's status records hooks by name")
		} else {
			seen[h.Name] = i
		}
		switch {
		case in.Namespace == "":
			fail(".namespace", "", "no namespace", "set the namespace of the pod the hook runs in")
		default:
			if errs := validation.IsDNS1123Label(in.Namespace); len(errs) > 0 {
				fail(".namespace", in.Namespace, "not a namespace name: "+errs[0], "use one namespace's name (no globs here)")
			}
		}
		if in.LabelSelector == nil {
			fail(".labelSelector", "", "no labelSelector",
				"add labelSelector: {matchLabels: {app: ...}}: the first Running pod (by name) it matches runs the hook")
		} else if sel, err := metav1.LabelSelectorAsSelector(in.LabelSelector); err != nil {
			fail(".labelSelector", "", "invalid label selector: "+err.Error(), "fix the selector's keys, operators and values")
		} else {
			h.Selector = sel
		}
		if in.Container != "" {
			if errs := validation.IsDNS1123Label(in.Container); len(errs) > 0 {
				fail(".container", in.Container, "not a container name: "+errs[0], "name one container of the selected pod, or omit it for its first")
			}
		}
		if cmd, msg, fix := checkArgv(in.Command); msg != "" {
			fail(".command", "", msg, fix)
		} else {
			h.Command = cmd
		}
		switch d := in.Timeout.Duration; {
		case d < 0:
			fail(".timeout", d.String(), "negative duration", `use a positive duration such as "30s", or omit it for 30s`)
		case d > 0:
			h.Timeout = d
		}
		if in.OnError != "" {
			if oe, msg, fix := parseOnError(string(in.OnError)); msg != "" {
				fail(".onError", string(in.OnError), msg, fix)
			} else {
				h.OnError = oe
			}
		}
		if phase == PostBackup {
			h.When = Always
			if in.When != "" {
				if w, msg, fix := parseWhen(in.When); msg != "" {
					fail(".when", in.When, msg, fix+" (of the backup: OnSuccess when every pod completed)")
				} else {
					h.When = w
				}
			}
		} else if in.When != "" {
			fail(".when", in.When, "when is only valid on post hooks",
				"remove it; put the hook under backup.post to gate it on the backup's outcome")
		}
		if !bad {
			out = append(out, h)
		}
	}
	return out
}
