// Package lint checks manifests for hook problems: it reads multi-document
// YAML (workloads, Backup, Schedule and Restore objects), resolves every pod
// template's hooks with the hook package, and adds the checks only the YAML
// itself can answer (a key written twice, an unknown field at its path). It
// is the only code that works on YAML nodes; hook stays a model of values.
package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/hook"
)

// Report is what Lint found: the hooks each pod template resolves to,
// every problem, warnings (valid hooks that are known database recipes
// that do not hold, hook.KnownBroken) and notes: what is worth knowing but
// is not wrong, such as spec hooks that a pod's annotation hooks replace.
type Report struct {
	Resolved []Resolved     `json:"resolved"`
	Problems []hook.Problem `json:"problems"`
	Warnings []hook.Problem `json:"warnings,omitempty"`
	Notes    []hook.Problem `json:"notes,omitempty"`
}

// Resolved is the hooks of one pod template: from its annotations alone
// (With empty), or with the spec hooks of one Backup, Schedule or Restore
// of the input that select it (With "backup velero/nightly").
type Resolved struct {
	Object string          `json:"object"`
	With   string          `json:"with,omitempty"`
	Hooks  []hook.Hook     `json:"hooks"`
	Init   []hook.InitHook `json:"init,omitempty"`
}

// HasErrors reports whether the input has any problem.
func (r Report) HasErrors() bool { return len(r.Problems) > 0 }

// Lint reads a multi-document YAML stream of workloads (Pod, Deployment,
// StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, CronJob,
// List) and Backup, Schedule and Restore objects (apiVersion velero.io/v1 or
// quiesce.dev/v1alpha1), validates every hook they declare, and resolves
// the spec hooks against the pod templates of the same input. Objects
// without a namespace are taken to be in "default". The error is only for
// input that cannot be read; everything wrong in it is a Problem.
func Lint(r io.Reader) (Report, error) {
	var l Linter
	if err := l.Add("", r); err != nil {
		return Report{}, err
	}
	return l.Report(), nil
}

// Linter lints several files as one input, so a Backup in one file
// resolves against the workloads of another.
type Linter struct {
	targets  []hook.Target
	backups  []specOf[v1alpha1.BackupHooks]
	restores []specOf[v1alpha1.RestoreHooks]
	ps       problems
}

type specOf[T any] struct {
	object, path string
	hooks        T
}

// Add reads one file; name (may be empty) is used in problems.
func (l *Linter) Add(name string, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	where := name
	if where == "" {
		where = "input"
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for i := 1; ; i++ {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			l.ps.add(hook.Problem{Object: fmt.Sprintf("%s document %d", where, i), Message: "not valid YAML: " + err.Error(),
				Fix: "fix the syntax; documents after this one were not read"})
			return nil
		}
		v, err := toValue(&doc)
		if err != nil {
			l.ps.add(hook.Problem{Object: fmt.Sprintf("%s document %d", where, i), Message: err.Error()})
			continue
		}
		if v == nil {
			continue
		}
		obj := l.addObject(fmt.Sprintf("%s document %d", where, i), v)
		checkDuplicates(obj, where, &doc, "", &l.ps)
	}
}

// maxNodes bounds the nodes a document expands to, aliases included.
const maxNodes = 1 << 18

// toValue turns a YAML node into JSON-able values. Duplicate keys keep the
// last value, as Kubernetes' YAML decoder does; checkDuplicates reports them.
func toValue(n *yaml.Node) (any, error) {
	c := converter{budget: maxNodes, expanding: map[*yaml.Node]bool{}}
	return c.value(n)
}

type converter struct {
	budget    int
	expanding map[*yaml.Node]bool // anchors being expanded
}

func (c *converter) value(n *yaml.Node) (any, error) {
	if c.budget--; c.budget < 0 {
		return nil, errors.New("document too large (or an alias bomb)")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0])
	case yaml.AliasNode:
		if n.Alias == nil || n.Alias.Kind == yaml.AliasNode {
			return nil, fmt.Errorf("line %d: bad alias", n.Line)
		}
		// An anchor is being expanded while its alias is met: a cycle.
		if c.expanding[n.Alias] {
			return nil, fmt.Errorf("line %d: recursive alias *%s", n.Line, n.Value)
		}
		c.expanding[n.Alias] = true
		defer delete(c.expanding, n.Alias)
		return c.value(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, ch := range n.Content {
			v, err := c.value(ch)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			v, err := c.value(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			out[k.Value] = v
		}
		return out, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b, nil
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return i, nil
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil {
				return f, nil
			}
		}
		return n.Value, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", n.Line)
}

// checkDuplicates reports a key written twice in one mapping. Kubernetes
// keeps the last one silently, which is how the copied "one hook per
// container" manifest, with pre.hook.backup.velero.io/command twice, loses
// all hooks but the last.
func checkDuplicates(object, file string, n *yaml.Node, path string, ps *problems) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			checkDuplicates(object, file, c, p, ps)
		}
	case yaml.MappingNode:
		lines := map[string][]int{}
		var order []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if _, seen := lines[k.Value]; !seen {
				order = append(order, k.Value)
			}
			lines[k.Value] = append(lines[k.Value], k.Line)
			checkDuplicates(object, file, n.Content[i+1], joinPath(path, k.Value), ps)
		}
		for _, k := range order {
			if ls := lines[k]; len(ls) > 1 {
				at := make([]string, len(ls))
				for i, l := range ls {
					at[i] = fmt.Sprint(l)
				}
				fix := "remove all but one"
				if isHookKey(k) {
					fix = "Velero reads one hook per phase per pod: list several hooks, in order, in " +
						"pre.hook.backup.quiesce.dev/hooks or post.hook.backup.quiesce.dev/hooks"
				}
				where := "lines "
				if file != "" {
					where = file + " lines "
				}
				ps.add(hook.Problem{Object: object, Field: joinPath(path, k),
					Message: fmt.Sprintf("key written %d times (%s%s); only the last one counts", len(ls), where, strings.Join(at, ", ")),
					Fix:     fix})
			}
		}
	}
}

func isHookKey(k string) bool {
	prefix, _, ok := strings.Cut(k, "/")
	return ok && strings.Contains(prefix, "hook.") && (strings.HasSuffix(prefix, ".velero.io") || strings.HasSuffix(prefix, ".quiesce.dev"))
}

func joinPath(path, key string) string {
	if strings.ContainsAny(key, "./ ") {
		key = fmt.Sprintf("[%q]", key)
		return path + key
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

type typeMeta struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
}

// addObject registers one decoded document and returns its name for
// problems ("deployment shop/db").
func (l *Linter) addObject(doc string, v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		l.ps.add(hook.Problem{Object: doc, Message: "cannot encode: " + err.Error()})
		return doc
	}
	m, _ := v.(map[string]any)
	meta, _ := m["metadata"].(map[string]any)
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	kind, ns, name := str(m, "kind"), str(meta, "namespace"), str(meta, "name")
	if ns == "" {
		ns = "default"
	}
	obj := doc
	if kind != "" {
		obj = fmt.Sprintf("%s %s/%s", strings.ToLower(kind), ns, name)
	}
	fail := func(field string, err error) {
		fix := ""
		if strings.Contains(err.Error(), "annotations of type string") {
			fix = "quote the value: annotation values are strings"
		}
		l.ps.add(hook.Problem{Object: obj, Field: field, Message: "cannot decode: " + err.Error(), Fix: fix})
	}
	var tm typeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		fail("metadata", err)
		return obj
	}
	tm.Metadata.Namespace = ns
	group, _, _ := strings.Cut(tm.APIVersion, "/")
	veleroish := tm.APIVersion == "velero.io/v1" || group == "quiesce.dev"
	switch {
	case tm.Kind == "List":
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			fail("items", err)
		}
		for i, it := range list.Items {
			var iv any
			if json.Unmarshal(it, &iv) == nil {
				l.addObject(fmt.Sprintf("%s item %d", doc, i), iv)
			}
		}
	case tm.Kind == "Pod":
		var p struct {
			Spec corev1.PodSpec `json:"spec"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			fail("spec", err)
			return obj
		}
		pod := &corev1.Pod{ObjectMeta: tm.Metadata, Spec: p.Spec}
		l.targets = append(l.targets, hook.PodTarget(pod))
	case tm.Kind == "CronJob":
		var cj struct {
			Spec struct {
				JobTemplate struct {
					Spec struct {
						Template corev1.PodTemplateSpec `json:"template"`
					} `json:"spec"`
				} `json:"jobTemplate"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(raw, &cj); err != nil {
			fail("spec.jobTemplate.spec.template", err)
			return obj
		}
		l.targets = append(l.targets, hook.TemplateTarget(tm.Kind, tm.Metadata, &cj.Spec.JobTemplate.Spec.Template))
	case slices.Contains([]string{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}, tm.Kind):
		var w struct {
			Spec struct {
				Template *corev1.PodTemplateSpec `json:"template"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			fail("spec.template", err)
			return obj
		}
		if w.Spec.Template != nil {
			l.targets = append(l.targets, hook.TemplateTarget(tm.Kind, tm.Metadata, w.Spec.Template))
		}
	case veleroish && (tm.Kind == "Backup" || tm.Kind == "Schedule"):
		path := "spec.hooks"
		if tm.Kind == "Schedule" {
			path = "spec.template.hooks"
		}
		var hooks v1alpha1.BackupHooks
		if l.decodeSpec(obj, path, v, false, &hooks) {
			l.backups = append(l.backups, specOf[v1alpha1.BackupHooks]{obj, path, hooks})
		}
	case veleroish && tm.Kind == "Restore":
		var hooks v1alpha1.RestoreHooks
		if l.decodeSpec(obj, "spec.hooks", v, true, &hooks) {
			l.restores = append(l.restores, specOf[v1alpha1.RestoreHooks]{obj, "spec.hooks", hooks})
		}
	}
	return obj
}

// decodeSpec decodes the hooks at path, after checkSpecFields has reported
// and removed what would fail the decode without saying where.
func (l *Linter) decodeSpec(obj, path string, v any, restore bool, out any) bool {
	node := v
	for _, p := range strings.Split(path, ".") {
		m, _ := node.(map[string]any)
		node = m[p]
	}
	if node == nil {
		return false
	}
	checkSpecFields(obj, path, node, restore, &l.ps)
	raw, _ := json.Marshal(node)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		l.ps.add(hook.Problem{Object: obj, Field: path, Message: "cannot decode: " + strings.TrimPrefix(err.Error(), "json: "),
			Fix: "compare with the hooks spec of Velero's Backup or Restore"})
		if json.Unmarshal(raw, out) != nil {
			return false
		}
	}
	return true
}

var (
	resourceSpecFields = []string{"name", "includedNamespaces", "excludedNamespaces", "includedResources",
		"excludedResources", "labelSelector"}
	backupExecFields  = []string{"container", "command", "onError", "timeout"}
	restoreExecFields = []string{"container", "command", "onError", "execTimeout", "waitTimeout", "waitForReady"}
	initFields        = []string{"initContainers", "timeout"}
	backupLevelFields = []string{"name", "namespace", "labelSelector", "container", "command", "job", "timeout", "onError", "when"}
	levelJobFields    = []string{"template", "backoffLimit"}
	templateFields    = []string{"metadata", "spec"}
)

// checkSpecFields reports unknown fields (typos such as "timout", which
// Velero's CRD would drop) and duration fields that metav1.Duration cannot
// parse ("300"), each at its path, and removes them so the rest of the
// spec still decodes.
func checkSpecFields(obj, path string, hooks any, restore bool, ps *problems) {
	known := func(m map[string]any, fpath string, names ...string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if slices.Contains(names, k) {
				continue
			}
			fix := "known fields: " + strings.Join(names, ", ")
			if best, ok := hook.Nearest(k, names); ok {
				fix = fmt.Sprintf("did you mean %q?", best)
			}
			ps.add(hook.Problem{Object: obj, Field: joinPath(fpath, k), Message: "unknown field", Fix: fix})
			delete(m, k)
		}
	}
	check := func(m map[string]any, field, fpath string, zeroOK bool) {
		v, ok := m[field]
		if !ok || v == nil {
			return
		}
		s, isStr := v.(string)
		if !isStr {
			s = fmt.Sprint(v)
		}
		if _, err := time.ParseDuration(s); err == nil && isStr {
			return
		}
		_, msg, fix := hook.ParseDuration(s, zeroOK)
		if msg == "" {
			msg, fix = "not a duration", fmt.Sprintf("use e.g. %q", s+"s")
		}
		ps.add(hook.Problem{Object: obj, Field: fpath + "." + field, Value: s, Message: msg, Fix: fix})
		delete(m, field)
	}
	hm, _ := hooks.(map[string]any)
	if restore {
		known(hm, path, "resources")
	} else {
		known(hm, path, "resources", "backup")
		report := func(p hook.Problem) { p.Object = obj; ps.add(p) }
		checkBackupLevelFields(hm, path, known, check, report)
	}
	resources, _ := hm["resources"].([]any)
	for i, r := range resources {
		rm, _ := r.(map[string]any)
		rpath := fmt.Sprintf("%s.resources[%d]", path, i)
		phases := []string{"pre", "post"}
		if restore {
			phases = []string{"postHooks"}
		}
		known(rm, rpath, append(append([]string(nil), resourceSpecFields...), phases...)...)
		for _, ph := range phases {
			list, _ := rm[ph].([]any)
			for j, h := range list {
				hm, _ := h.(map[string]any)
				hpath := fmt.Sprintf("%s.%s[%d]", rpath, ph, j)
				if restore {
					known(hm, hpath, "exec", "init")
				} else {
					known(hm, hpath, "exec")
				}
				if e, ok := hm["exec"].(map[string]any); ok {
					if restore {
						known(e, hpath+".exec", restoreExecFields...)
					} else {
						known(e, hpath+".exec", backupExecFields...)
					}
					for _, f := range []string{"timeout", "execTimeout", "waitTimeout"} {
						check(e, f, hpath+".exec", f == "waitTimeout")
					}
				}
				if in, ok := hm["init"].(map[string]any); ok {
					known(in, hpath+".init", initFields...)
					check(in, "timeout", hpath+".init", true)
				}
			}
		}
	}
}

// checkBackupLevelFields is checkSpecFields for spec.hooks.backup.
func checkBackupLevelFields(hm map[string]any, path string, known func(map[string]any, string, ...string),
	check func(map[string]any, string, string, bool), report func(hook.Problem)) {
	bm, ok := hm["backup"].(map[string]any)
	if !ok {
		return
	}
	known(bm, path+".backup", "pre", "post")
	for _, ph := range []string{"pre", "post"} {
		list, _ := bm[ph].([]any)
		for j, h := range list {
			m, _ := h.(map[string]any)
			hpath := fmt.Sprintf("%s.backup.%s[%d]", path, ph, j)
			known(m, hpath, backupLevelFields...)
			check(m, "timeout", hpath, false)
			if jm, ok := m["job"].(map[string]any); ok {
				known(jm, hpath+".job", levelJobFields...)
				checkTemplate(jm, hpath+".job", known, report)
			}
		}
	}
}

// checkTemplate reports what a pod template at path.template would lose or
// fail on (the Backup CRD keeps it schemaless, so the API server would not
// say): unknown fields at its top, then anything a strict decode of
// corev1.PodTemplateSpec refuses, at the template's path. What decodes
// leniently is kept, so that the hook is still checked as the coordinator
// would see it.
func checkTemplate(jm map[string]any, path string, known func(map[string]any, string, ...string), report func(hook.Problem)) {
	tm, ok := jm["template"].(map[string]any)
	if !ok {
		return
	}
	tpath := path + ".template"
	known(tm, tpath, templateFields...)
	raw, _ := json.Marshal(tm)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var t corev1.PodTemplateSpec
	err := dec.Decode(&t)
	if err == nil {
		return
	}
	report(hook.Problem{Field: tpath, Message: "cannot decode as a pod template: " + strings.TrimPrefix(err.Error(), "json: "),
		Fix: "compare with a Job's spec.template (kubectl explain job.spec.template)"})
	t = corev1.PodTemplateSpec{}
	var lenient map[string]any
	if json.Unmarshal(raw, &t) != nil {
		delete(jm, "template")
		return
	}
	raw, _ = json.Marshal(t)
	if json.Unmarshal(raw, &lenient) == nil {
		jm["template"] = lenient
	}
}

// Report resolves every pod template against the annotations alone and
// against each Backup, Schedule and Restore read.
func (l *Linter) Report() Report {
	ps := problems{list: append([]hook.Problem(nil), l.ps.list...)}
	var notes []hook.Problem
	var res []Resolved
	for i := range l.targets {
		t := l.targets[i]
		pre, post, err := t.BackupHooks(nil)
		addErr(&ps, err)
		rpost, rinit, err := t.RestoreHooks(nil)
		addErr(&ps, err)
		_, err = t.BackupSettings()
		addErr(&ps, err)
		check, err := t.VerifyHook()
		addErr(&ps, err)
		hooks := concat(pre, post, rpost)
		if check != nil {
			hooks = append(hooks, *check)
		}
		res = append(res, Resolved{Object: t.Object, Hooks: hooks, Init: rinit})
		for _, b := range l.backups {
			tb := t
			tb.SpecObject, tb.SpecPath = b.object, b.path
			pre, post, err := tb.BackupHooks(&b.hooks)
			addErr(&ps, err)
			notes = append(notes, tb.BackupNotes(&b.hooks)...)
			if hooks := concat(pre, post); fromSpec(hooks) {
				res = append(res, Resolved{Object: t.Object, With: b.object, Hooks: hooks})
			}
		}
		for _, r := range l.restores {
			tr := t
			tr.SpecObject, tr.SpecPath = r.object, r.path
			post, init, err := tr.RestoreHooks(&r.hooks)
			addErr(&ps, err)
			notes = append(notes, tr.RestoreNotes(&r.hooks)...)
			if fromSpec(post) || len(init) > 0 && init[0].Source.Kind == "spec" {
				res = append(res, Resolved{Object: t.Object, With: r.object, Hooks: post, Init: init})
			}
		}
	}
	// Validate every spec on its own too, so its problems show even when
	// no template of the input matches it.
	for _, b := range l.backups {
		t := hook.Target{Object: b.object, SpecPath: b.path}
		_, _, err := t.BackupHooks(&b.hooks)
		addErr(&ps, err)
	}
	for _, r := range l.restores {
		t := hook.Target{Object: r.object, SpecPath: r.path}
		_, _, err := t.RestoreHooks(&r.hooks)
		addErr(&ps, err)
	}
	var warnings []hook.Problem
	for _, r := range res {
		warnings = append(warnings, hook.KnownBroken(r.Object, r.Hooks)...)
	}
	return Report{Resolved: res, Problems: dedupe(ps.list), Warnings: dedupe(warnings), Notes: dedupe(notes)}
}

func addErr(ps *problems, err error) {
	var ve *hook.ValidationError
	if errors.As(err, &ve) {
		ps.list = append(ps.list, ve.Problems...)
	}
}

func concat(lists ...[]hook.Hook) []hook.Hook {
	var out []hook.Hook
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func fromSpec(hooks []hook.Hook) bool {
	for _, h := range hooks {
		if h.Source.Kind == "spec" {
			return true
		}
	}
	return false
}

// dedupe drops repeated problems (a spec problem shows once per template
// otherwise) and sorts them by object, keeping each object's order.
func dedupe(list []hook.Problem) []hook.Problem {
	seen := map[string]bool{}
	var out []hook.Problem
	for _, p := range list {
		s := p.String()
		if !seen[s] {
			seen[s] = true
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Object < out[j].Object })
	return out
}

// problems collects the Problems of one lint run.
type problems struct {
	list []hook.Problem
}

func (ps *problems) add(p hook.Problem) { ps.list = append(ps.list, p) }
