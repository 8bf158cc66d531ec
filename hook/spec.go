package hook

import (
	"fmt"
	"path"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// selector is the part of a spec hooks entry that picks pods.
type selector struct {
	includedNamespaces, excludedNamespaces []string
	includedResources, excludedResources   []string
	labelSelector                          *metav1.LabelSelector
	// ignoreResources: Velero applies restore hooks to pods whatever the
	// entry's includedResources say.
	ignoreResources bool
}

// matches reports whether the selector picks the target, adding problems
// of the selector itself (under path) to ps. A nil target matches nothing:
// the spec is only validated.
func (t *Target) matches(s selector, path string, ps *problems) bool {
	ok := true
	obj := t.specObject()
	for i, ns := range s.excludedNamespaces {
		if ns == "*" {
			ps.add(Problem{Object: obj, Field: fmt.Sprintf("%s.excludedNamespaces[%d]", path, i), Value: ns,
				Message: `"*" excludes every namespace`, Fix: "remove the entry, or drop the whole hooks entry"})
			ok = false
		} else if badGlob(ns) {
			ps.add(Problem{Object: obj, Field: fmt.Sprintf("%s.excludedNamespaces[%d]", path, i), Value: ns,
				Message: "bad namespace pattern", Fix: `use a name or a glob such as "team-*"`})
			ok = false
		}
	}
	for i, ns := range s.includedNamespaces {
		if badGlob(ns) {
			ps.add(Problem{Object: obj, Field: fmt.Sprintf("%s.includedNamespaces[%d]", path, i), Value: ns,
				Message: "bad namespace pattern", Fix: `use a name or a glob such as "team-*"`})
			ok = false
		}
	}
	var sel labels.Selector
	if s.labelSelector != nil {
		var err error
		if sel, err = metav1.LabelSelectorAsSelector(s.labelSelector); err != nil {
			ps.add(Problem{Object: obj, Field: path + ".labelSelector",
				Message: "invalid label selector: " + err.Error(), Fix: "fix the selector's keys, operators and values"})
			ok = false
		}
	}
	if !ok || t.Spec == nil {
		return false
	}
	if !matchNamespace(s.includedNamespaces, s.excludedNamespaces, t.Namespace) {
		return false
	}
	if !s.ignoreResources && !matchPods(s.includedResources, s.excludedResources) {
		return false
	}
	return sel == nil || sel.Matches(labels.Set(t.Labels))
}

func badGlob(p string) bool {
	_, err := path.Match(p, "")
	return err != nil
}

// matchNamespace follows Velero: excludes win; no includes, or "*", means
// all. Names may be globs ("team-*"), as in Velero 1.17 and later.
func matchNamespace(include, exclude []string, ns string) bool {
	for _, p := range exclude {
		if ok, _ := path.Match(p, ns); ok {
			return false
		}
	}
	if len(include) == 0 {
		return true
	}
	for _, p := range include {
		if ok, _ := path.Match(p, ns); ok || p == "*" {
			return true
		}
	}
	return false
}

// podResource reports whether a resource name means pods. Velero resolves
// names through discovery; hooks only run in pods, so only these matter.
func podResource(r string) bool {
	switch strings.ToLower(r) {
	case "*", "pods", "pod", "po", "pods.", "pods.v1", "pods.core", "pods.v1.core":
		return true
	}
	return false
}

func matchPods(include, exclude []string) bool {
	for _, r := range exclude {
		if podResource(r) {
			return false
		}
	}
	if len(include) == 0 {
		return true
	}
	for _, r := range include {
		if podResource(r) {
			return true
		}
	}
	return false
}

func specName(name string, i int) string {
	if name != "" {
		return name
	}
	return fmt.Sprintf("resources[%d]", i)
}

// ValidateBackupHooks checks every entry of a Backup's spec hooks, whatever
// pods it selects (BackupHooks checks only the entries that select its
// pod); object names the Backup in problems, e.g. "backup velero/nightly".
func ValidateBackupHooks(object string, spec *v1alpha1.BackupHooks) error {
	t := Target{Object: object}
	_, _, err := t.BackupHooks(spec)
	return err
}

// ValidateRestoreHooks is ValidateBackupHooks for a Restore's spec hooks.
func ValidateRestoreHooks(object string, spec *v1alpha1.RestoreHooks) error {
	t := Target{Object: object}
	_, _, err := t.RestoreHooks(spec)
	return err
}

// specBackupHooks returns one phase's hooks from every entry of a Backup's
// spec hooks that selects the target, validating those entries (all
// entries when the target has no pod spec: validation only). replacedBy is
// the annotation that declares the phase's hooks on the target, if any: the
// entries' hooks of the phase are then neither run nor checked against the
// pod (Velero never looks at them), only noted.
func (t *Target) specBackupHooks(spec *v1alpha1.BackupHooks, phase Phase, replacedBy string, ps *problems, notes *[]Problem) []Hook {
	if spec == nil {
		return nil
	}
	var hooks []Hook
	for i, r := range spec.Resources {
		rpath := fmt.Sprintf("%s.resources[%d]", t.specPath(), i)
		// The selector is validated once, with the pre phase.
		var sps problems
		match := t.matches(selector{r.IncludedNamespaces, r.ExcludedNamespaces, r.IncludedResources,
			r.ExcludedResources, r.LabelSelector, false}, rpath, &sps)
		if phase == PreBackup {
			ps.list = append(ps.list, sps.list...)
		}
		if !match && t.Spec != nil {
			continue // not this pod's hooks: ValidateBackupHooks checks them
		}
		list, key := r.PreHooks, "pre"
		if phase == PostBackup {
			list, key = r.PostHooks, "post"
		}
		for j, rh := range list {
			hpath := fmt.Sprintf("%s.%s[%d]", rpath, key, j)
			if replacedBy != "" {
				t.noteReplaced(hpath, replacedBy, notes)
				continue
			}
			if h, ok := t.specExec(rh.Exec, phase, fmt.Sprintf("%s/%s[%d]", specName(r.Name, i), key, j), hpath, match, ps); ok && match {
				hooks = append(hooks, h)
			}
		}
	}
	return hooks
}

// noteReplaced notes a spec hook that selects the target but is replaced
// by its annotation hooks. It is not a problem: the pod's backup or
// restore goes on without it, as in Velero.
func (t *Target) noteReplaced(hpath, key string, notes *[]Problem) {
	field := hpath
	if t.SpecObject != "" && t.SpecObject != t.Object {
		field = t.SpecObject + " " + hpath
	}
	*notes = append(*notes, Problem{Object: t.Object, Field: field,
		Message: fmt.Sprintf("not run and not checked: the pod's annotation %q replaces the spec hooks of this phase, as in Velero", key),
		Fix:     "to run it as well, add it to the pod's hooks annotation instead"})
}

// specExec validates one backup exec hook; problems of the hook itself
// belong to the spec, an unknown container to the target (and only when
// the entry matches it).
func (t *Target) specExec(e *v1alpha1.ExecHook, phase Phase, name, hpath string, match bool, ps *problems) (Hook, bool) {
	if e == nil {
		ps.add(Problem{Object: t.specObject(), Field: hpath + ".exec", Message: "missing exec",
			Fix: "add exec: {command: [...]}"})
		return Hook{}, false
	}
	var specPs problems
	b := newBuilder(t, t.specObject(), &specPs, phase, name, Source{Kind: "spec", Ref: hpath}, hpath+".exec.command")
	b.commandList(hpath+".exec.command", e.Command)
	if e.OnError != "" {
		b.onError(hpath+".exec.onError", string(e.OnError))
	}
	if e.Timeout.Duration < 0 {
		b.fail(hpath+".exec.timeout", e.Timeout.Duration.String(), "negative duration", `use a positive duration such as "30s"`)
	} else if e.Timeout.Duration > 0 {
		b.h.Timeout = e.Timeout.Duration
	}
	return t.finishSpec(b, e.Container, hpath+".exec.container", match, &specPs, ps)
}

// finishSpec runs the container check only on matching targets, so a spec
// entry is not blamed for the containers of pods it does not select.
func (t *Target) finishSpec(b *builder, container, field string, match bool, specPs, ps *problems) (Hook, bool) {
	ps.list = append(ps.list, specPs.list...)
	if !match {
		return Hook{}, false
	}
	if t.SpecObject != "" && t.SpecObject != t.Object {
		field = t.SpecObject + " " + field // the pod's problem, in that spec
	}
	if container != "" {
		b.container(field, container)
	}
	var podPs problems
	b.ps, b.object = &podPs, t.Object
	h, ok := b.finish()
	ps.list = append(ps.list, podPs.list...)
	return h, ok
}

// specRestoreHooks returns the post-restore exec hooks and the init hooks
// of every matching entry of a Restore's spec hooks. execBy and initBy are
// the annotations that replace the exec and the init hooks, if any, as
// replacedBy in specBackupHooks.
func (t *Target) specRestoreHooks(spec *v1alpha1.RestoreHooks, execBy, initBy string, ps *problems, notes *[]Problem) (post []Hook, init []InitHook) {
	if spec == nil {
		return nil, nil
	}
	for i, r := range spec.Resources {
		rpath := fmt.Sprintf("%s.resources[%d]", t.specPath(), i)
		match := t.matches(selector{r.IncludedNamespaces, r.ExcludedNamespaces, r.IncludedResources,
			r.ExcludedResources, r.LabelSelector, true}, rpath, ps)
		if !match && t.Spec != nil {
			continue // not this pod's hooks: ValidateRestoreHooks checks them
		}
		for j, rh := range r.PostHooks {
			hpath := fmt.Sprintf("%s.postHooks[%d]", rpath, j)
			name := fmt.Sprintf("%s/postHooks[%d]", specName(r.Name, i), j)
			switch {
			case rh.Exec != nil && rh.Init != nil:
				ps.add(Problem{Object: t.specObject(), Field: hpath, Message: "both exec and init are set",
					Fix: "split them into two postHooks entries"})
			case rh.Exec != nil && execBy != "":
				t.noteReplaced(hpath, execBy, notes)
			case rh.Exec != nil:
				if h, ok := t.specRestoreExec(rh.Exec, name, hpath, match, ps); ok && match {
					post = append(post, h)
				}
			case rh.Init != nil && initBy != "":
				t.noteReplaced(hpath, initBy, notes)
			case rh.Init != nil:
				init = append(init, t.specInit(rh.Init, hpath, match, ps)...)
			default:
				ps.add(Problem{Object: t.specObject(), Field: hpath, Message: "neither exec nor init is set",
					Fix: "add exec: {command: [...]} or init: {initContainers: [...]}"})
			}
		}
	}
	return post, init
}

func (t *Target) specRestoreExec(e *v1alpha1.RestoreExecHook, name, hpath string, match bool, ps *problems) (Hook, bool) {
	var specPs problems
	b := newBuilder(t, t.specObject(), &specPs, PostRestore, name, Source{Kind: "spec", Ref: hpath}, hpath+".exec.command")
	b.commandList(hpath+".exec.command", e.Command)
	if e.OnError != "" {
		b.onError(hpath+".exec.onError", string(e.OnError))
	}
	if d := e.ExecTimeout.Duration; d < 0 {
		b.fail(hpath+".exec.execTimeout", d.String(), "negative duration", `use a positive duration such as "30s"`)
	} else if d > 0 {
		b.h.Timeout = d
	}
	if d := e.WaitTimeout.Duration; d < 0 {
		b.fail(hpath+".exec.waitTimeout", d.String(), "negative duration", `use a positive duration, or omit it to wait without limit`)
	} else {
		b.h.WaitTimeout = d
	}
	if e.WaitForReady != nil {
		b.h.WaitForReady = *e.WaitForReady
	}
	return t.finishSpec(b, e.Container, hpath+".exec.container", match, &specPs, ps)
}

func (t *Target) specInit(in *v1alpha1.InitRestoreHook, hpath string, match bool, ps *problems) []InitHook {
	obj := t.specObject()
	bad := false
	if d := in.Timeout.Duration; d < 0 {
		ps.add(Problem{Object: obj, Field: hpath + ".init.timeout", Value: d.String(), Message: "negative duration",
			Fix: `use a positive duration, or omit it for no limit`})
		bad = true
	}
	if len(in.InitContainers) == 0 {
		ps.add(Problem{Object: obj, Field: hpath + ".init.initContainers", Message: "no init containers",
			Fix: "list at least one container, or remove the entry"})
	}
	var out []InitHook
	for k, c := range in.InitContainers {
		cpath := fmt.Sprintf("%s.init.initContainers[%d]", hpath, k)
		ok := !bad
		if c.Name == "" {
			ps.add(Problem{Object: obj, Field: cpath + ".name", Message: "empty name", Fix: "name the init container"})
			ok = false
		} else if msg, fix := checkContainerName(c.Name); msg != "" {
			ps.add(Problem{Object: obj, Field: cpath + ".name", Value: c.Name, Message: msg, Fix: fix})
			ok = false
		}
		if c.Image == "" {
			ps.add(Problem{Object: obj, Field: cpath + ".image", Message: "empty image", Fix: "set an image"})
			ok = false
		}
		if len(c.Command) == 0 {
			// Velero rejects spec init containers without a command.
			ps.add(Problem{Object: obj, Field: cpath + ".command", Message: "no command",
				Fix: "set the command the init container runs; Velero requires one here"})
			ok = false
		}
		for _, args := range []struct {
			field string
			list  []string
		}{{"command", c.Command}, {"args", c.Args}} {
			if msg, fix := checkNUL(args.list); msg != "" {
				ps.add(Problem{Object: obj, Field: cpath + "." + args.field, Message: msg, Fix: fix})
				ok = false
			}
		}
		if ok && match {
			out = append(out, InitHook{Name: c.Name, Source: Source{Kind: "spec", Ref: cpath},
				Container: *c.DeepCopy(), Timeout: in.Timeout.Duration})
		}
	}
	return out
}
