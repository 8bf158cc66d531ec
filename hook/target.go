package hook

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Target is what hooks are resolved against: a pod, or a workload's pod
// template (lint).
type Target struct {
	// Object names the target in problems: "pod shop/db-0",
	// "statefulset shop/db".
	Object string
	// Namespace and Labels are matched by spec hooks.
	Namespace   string
	Labels      map[string]string
	Annotations map[string]string
	Spec        *corev1.PodSpec

	// SpecObject names the Backup or Restore in problems of the spec
	// itself; empty means Object. SpecPath is where the hooks sit in it,
	// "spec.hooks" by default ("spec.template.hooks" for a Schedule).
	SpecObject string
	SpecPath   string
}

// PodTarget returns the Target of a pod.
func PodTarget(pod *corev1.Pod) Target {
	return Target{
		Object:      fmt.Sprintf("pod %s/%s", pod.Namespace, pod.Name),
		Namespace:   pod.Namespace,
		Labels:      pod.Labels,
		Annotations: pod.Annotations,
		Spec:        &pod.Spec,
	}
}

// TemplateTarget returns the Target of a workload's pod template; kind is
// the workload's kind ("Deployment").
func TemplateTarget(kind string, workload metav1.ObjectMeta, tmpl *corev1.PodTemplateSpec) Target {
	ns := tmpl.Namespace
	if ns == "" {
		ns = workload.Namespace
	}
	return Target{
		Object:      fmt.Sprintf("%s %s/%s", strings.ToLower(kind), workload.Namespace, workload.Name),
		Namespace:   ns,
		Labels:      tmpl.Labels,
		Annotations: tmpl.Annotations,
		Spec:        &tmpl.Spec,
	}
}

// BackupHooks resolves a pod's pre- and post-backup hooks from its
// annotations and a Backup's spec hooks (nil: none).
//
// Problems are those of the pod's annotations and of the spec entries that
// select the pod (and of selectors that cannot be evaluated); entries that
// select other pods are not checked here, so one broken entry does not fail
// every pod: check the whole spec once with ValidateBackupHooks. Nor are
// the spec hooks of a phase the annotations replace: they are not run, so
// they cannot fail the pod (Target.BackupNotes lists them).
//
// For each phase, annotation hooks REPLACE the spec hooks, as in Velero:
// a pod with any pre-hook annotation (a command under either domain, the
// legacy hook.backup.velero.io/command, or a pre.hook.backup.quiesce.dev/hooks
// list, even an empty one) runs no pre-hooks from the spec. Spec hooks come
// from every matching spec.hooks.resources[] entry, in order.
//
// A non-nil err is a *ValidationError with every problem. The hooks that
// had no problem are still returned, but a hook with a problem is dropped,
// so a caller that runs hooks must refuse a pod whose err is not nil (a
// dropped thaw hook would leave the application frozen).
func BackupHooks(pod *corev1.Pod, spec *v1alpha1.BackupHooks) (pre, post []Hook, err error) {
	if pod == nil {
		return nil, nil, &ValidationError{Problems: []Problem{{Message: "no pod given"}}}
	}
	t := PodTarget(pod)
	return t.BackupHooks(spec)
}

// RestoreHooks resolves a pod's post-restore exec hooks and the init
// containers a restore adds to it, from its annotations and a Restore's spec
// hooks (nil: none). Annotations replace spec hooks separately for exec and
// init hooks, as in Velero. Errors as in BackupHooks.
func RestoreHooks(pod *corev1.Pod, spec *v1alpha1.RestoreHooks) (post []Hook, init []InitHook, err error) {
	if pod == nil {
		return nil, nil, &ValidationError{Problems: []Problem{{Message: "no pod given"}}}
	}
	t := PodTarget(pod)
	return t.RestoreHooks(spec)
}

// BackupHooks is the package-level BackupHooks on a Target.
func (t *Target) BackupHooks(spec *v1alpha1.BackupHooks) (pre, post []Hook, err error) {
	pre, post, _, err = t.backupHooks(spec)
	return pre, post, err
}

// BackupNotes lists what resolving the target's backup hooks noticed that
// is not a problem: the spec hooks that select it but are replaced by its
// annotation hooks of the same phase. `hooks lint` prints them as notes.
func (t *Target) BackupNotes(spec *v1alpha1.BackupHooks) []Problem {
	_, _, notes, _ := t.backupHooks(spec)
	return notes
}

func (t *Target) backupHooks(spec *v1alpha1.BackupHooks) (pre, post []Hook, notes []Problem, err error) {
	var ps problems
	checkKeys(t.Object, t.Annotations, &ps)
	checkSize(t.Object, t.Annotations, &ps)
	for _, phase := range []Phase{PreBackup, PostBackup} {
		hooks, replacedBy := t.annotationBackupHooks(phase, &ps)
		specHooks := t.specBackupHooks(spec, phase, replacedBy, &ps, &notes)
		if replacedBy == "" {
			hooks = specHooks
		}
		if phase == PreBackup {
			pre = hooks
		} else {
			post = hooks
		}
	}
	if t.Spec == nil {
		t.backupLevelHooks(spec, &ps) // validation only: they belong to no pod
	}
	return pre, post, notes, ps.err()
}

// RestoreHooks is the package-level RestoreHooks on a Target.
func (t *Target) RestoreHooks(spec *v1alpha1.RestoreHooks) (post []Hook, init []InitHook, err error) {
	post, init, _, err = t.restoreHooks(spec)
	return post, init, err
}

// RestoreNotes is BackupNotes for restore hooks.
func (t *Target) RestoreNotes(spec *v1alpha1.RestoreHooks) []Problem {
	_, _, notes, _ := t.restoreHooks(spec)
	return notes
}

func (t *Target) restoreHooks(spec *v1alpha1.RestoreHooks) (post []Hook, init []InitHook, notes []Problem, err error) {
	var ps problems
	checkKeys(t.Object, t.Annotations, &ps)
	checkSize(t.Object, t.Annotations, &ps)
	post, postBy := t.annotationRestoreHooks(&ps)
	init, initBy := t.annotationInitHooks(&ps)
	specPost, specInit := t.specRestoreHooks(spec, postBy, initBy, &ps, &notes)
	if postBy == "" {
		post = specPost
	}
	if initBy == "" {
		init = specInit
	}
	return post, init, notes, ps.err()
}

func (t *Target) specObject() string {
	if t.SpecObject != "" {
		return t.SpecObject
	}
	return t.Object
}

func (t *Target) specPath() string {
	if t.SpecPath != "" {
		return t.SpecPath
	}
	return "spec.hooks"
}

func (t *Target) containerNames() []string {
	if t.Spec == nil {
		return nil
	}
	names := make([]string, len(t.Spec.Containers))
	for i, c := range t.Spec.Containers {
		names[i] = c.Name
	}
	return names
}

// builder fills one Hook field by field; every bad field adds a Problem and
// marks the hook bad.
type builder struct {
	t      *Target
	object string // where problems are reported
	ps     *problems
	h      Hook
	bad    bool

	base           string // field for problems of the whole hook
	containerField string // field that set the container, for its problems
	commandField   string
	holdField      string // first hold field set, for consistency problems
	hold           HoldSpec
	readySet       bool
}

func newBuilder(t *Target, object string, ps *problems, phase Phase, name string, src Source, base string) *builder {
	h := Hook{Name: name, Phase: phase, Source: src, Timeout: DefaultTimeout, OnError: Fail, Mode: Exec}
	switch phase {
	case PostBackup:
		h.When = Always
	case PostRestore:
		h.OnError = Continue // Velero's documented restore default
	}
	return &builder{t: t, object: object, ps: ps, h: h, base: base, containerField: base, commandField: base}
}

func (b *builder) fail(field, value, msg, fix string) {
	b.bad = true
	b.ps.add(Problem{Object: b.object, Field: field, Value: value, Message: msg, Fix: fix})
}

func (b *builder) commandString(field, v string) {
	b.commandField = field
	cmd, msg, fix := parseCommand(v)
	if msg != "" {
		b.fail(field, v, msg, fix)
		return
	}
	b.h.Command = cmd
}

func (b *builder) commandList(field string, cmd []string) {
	b.commandField = field
	cmd, msg, fix := checkArgv(cmd)
	if msg != "" {
		b.fail(field, "", msg, fix)
		return
	}
	b.h.Command = cmd
}

func (b *builder) container(field, v string) {
	b.containerField = field
	b.h.Container = v
}

func (b *builder) duration(field, v string, dst *time.Duration, zeroOK bool) {
	d, msg, fix := ParseDuration(v, zeroOK)
	if msg != "" {
		b.fail(field, v, msg, fix)
		return
	}
	*dst = d
}

func (b *builder) onError(field, v string) {
	oe, msg, fix := parseOnError(v)
	if msg != "" {
		b.fail(field, v, msg, fix)
		return
	}
	b.h.OnError = oe
}

func (b *builder) retries(field, v string) {
	n, msg, fix := parseRetries(v)
	if msg != "" {
		b.fail(field, v, msg, fix)
		return
	}
	b.h.Retries = n
}

func (b *builder) when(field, v string) {
	if b.h.Phase != PostBackup {
		b.fail(field, v, "when is only valid on post-backup hooks",
			"remove it; a post-backup hook can run Always, OnSuccess or OnFailure of the capture")
		return
	}
	w, msg, fix := parseWhen(v)
	if msg != "" {
		b.fail(field, v, msg, fix)
		return
	}
	b.h.When = w
}

func (b *builder) mode(field, v string) {
	if b.h.Phase != PreBackup {
		b.fail(field, v, "mode is only valid on pre-backup hooks",
			"put the Hold hook in the pre phase; the post phase releases it")
		return
	}
	m, msg, fix := parseMode(v)
	if msg != "" {
		b.fail(field, v, msg, fix)
		return
	}
	b.h.Mode = m
}

// holdValue records a hold setting; it is checked against the mode in finish.
func (b *builder) holdValue(field string) bool {
	if b.holdField == "" {
		b.holdField = field
	}
	if b.h.Phase != PreBackup {
		b.fail(field, "", "hold settings are only valid on pre-backup hooks",
			"put the Hold hook in the pre phase; the post phase releases it")
		return false
	}
	return true
}

func (b *builder) waitForReady(field, v string) {
	ok, msg, fix := parseBool(v)
	if msg != "" {
		b.fail(field, v, msg, fix)
		return
	}
	b.h.WaitForReady = ok
}

// finish applies defaults and the checks that need the whole hook.
func (b *builder) finish() (Hook, bool) {
	names := b.t.containerNames()
	if b.h.Command == nil && !b.bad {
		b.fail(b.base, "", "no command", `add a command such as ["/bin/sh","-c","sync"]`)
	}
	switch {
	case b.t.Spec == nil:
	case len(names) == 0:
		b.fail(b.base, "", "the pod has no containers to run the hook in", "")
	case b.h.Container == "":
		b.h.Container = names[0]
	case !contains(names, b.h.Container):
		fix := fmt.Sprintf("use one of: %s", strings.Join(names, ", "))
		if b.t.Spec != nil && isInitContainer(b.t.Spec, b.h.Container) {
			fix = "hooks run in running containers, not init containers; " + fix
		}
		b.fail(b.containerField, b.h.Container, "no such container in the pod", fix)
	}
	if b.h.Mode == Hold {
		h := b.hold
		if !b.readySet {
			h.ReadyTimeout = b.h.Timeout
		}
		if h.ReleaseTimeout == 0 {
			h.ReleaseTimeout = DefaultTimeout
		}
		b.h.Hold = &h
	} else if b.holdField != "" && b.h.Phase == PreBackup {
		b.fail(b.holdField, "", "hold settings need mode Hold", `set mode to "Hold", or remove them`)
	}
	return b.h, !b.bad
}

func isInitContainer(spec *corev1.PodSpec, name string) bool {
	for _, c := range spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}
