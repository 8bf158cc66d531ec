package hook

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// BackupLevelHook is one resolved hook of spec.hooks.backup: it runs once
// per backup (not per pod), either as an exec in one pod (the first Running
// pod by name of Namespace that Selector matches) or, when Job is set, as a
// Job in Namespace.
type BackupLevelHook struct {
	// Hook holds the name, phase (PreBackup or PostBackup), source,
	// container (empty: the selected pod's first), command (exec form),
	// timeout, onError and, for post hooks, when.
	Hook
	Namespace string
	// Selector selects the exec form's pod; nil for the job form.
	Selector labels.Selector
	// Job is the job form; nil for the exec form.
	Job *BackupLevelJob
}

// BackupLevelJob is the resolved job form of a backup-level hook.
type BackupLevelJob struct {
	// Template is the pod template, its restartPolicy set (Never unless
	// OnFailure was asked for).
	Template corev1.PodTemplateSpec
	// BackoffLimit is the number of retries (default 0).
	BackoffLimit int32
}

// MaxJobBackoffLimit bounds a hook Job's retries, as the pod hooks' retries
// are bounded: a hook that needs more is waiting for something, and its
// timeout is the place to say for how long.
const MaxJobBackoffLimit = 10

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

// levelCheck collects the problems of one backup-level hook at its path.
type levelCheck struct {
	obj, path string
	ps        *problems
	bad       bool
}

func (c *levelCheck) fail(field, value, msg, fix string) {
	c.ps.add(Problem{Object: c.obj, Field: c.path + field, Value: value, Message: msg, Fix: fix})
	c.bad = true
}

func (t *Target) backupLevelList(list []v1alpha1.BackupLevelHook, phase Phase, lpath string, ps *problems) []BackupLevelHook {
	seen := map[string]int{}
	var out []BackupLevelHook
	for i, in := range list {
		c := &levelCheck{obj: t.specObject(), path: fmt.Sprintf("%s[%d]", lpath, i), ps: ps}
		h := BackupLevelHook{Hook: Hook{Name: in.Name, Phase: phase, Source: Source{Kind: "spec", Ref: c.path},
			Container: in.Container, Timeout: DefaultTimeout, OnError: Fail, Mode: Exec}, Namespace: in.Namespace}
		if h.Name == "" {
			h.Name = fmt.Sprintf("%s[%d]", phase, i)
		}
		if j, dup := seen[h.Name]; dup {
			c.fail(".name", h.Name, fmt.Sprintf("duplicate name (also %s[%d])", lpath, j),
				"give each hook of the list its own name: the Backup's status records hooks by name")
		} else {
			seen[h.Name] = i
		}
		c.namespace(in.Namespace)
		switch execForm := in.LabelSelector != nil || in.Command != nil || in.Container != ""; {
		case in.Job != nil && execForm:
			c.fail(".job", "", "both a job and an exec (command, labelSelector, container)",
				"a hook runs either a command in a Running pod or a Job: keep one, and move the other to a hook of its own")
		case in.Job != nil:
			h.Job = c.job(in.Job)
		case execForm:
			h.Selector, h.Command = c.exec(in)
		default:
			c.fail(".job", "", "neither a job nor a command",
				"set command and labelSelector to exec in a Running pod, or job: {template: ...} to run a Job")
		}
		c.common(in, phase, &h.Hook)
		if !c.bad {
			out = append(out, h)
		}
	}
	return out
}

func (c *levelCheck) namespace(ns string) {
	if ns == "" {
		c.fail(".namespace", "", "no namespace", "set the namespace the hook runs in (its pod's, or its Job's)")
		return
	}
	if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
		c.fail(".namespace", ns, "not a namespace name: "+errs[0], "use one namespace's name (no globs here)")
	}
}

// exec checks the exec form: the pod's selector, container and command.
func (c *levelCheck) exec(in v1alpha1.BackupLevelHook) (labels.Selector, []string) {
	var sel labels.Selector
	if in.LabelSelector == nil {
		c.fail(".labelSelector", "", "no labelSelector",
			"add labelSelector: {matchLabels: {app: ...}}: the first Running pod (by name) it matches runs the hook")
	} else if s, err := metav1.LabelSelectorAsSelector(in.LabelSelector); err != nil {
		c.fail(".labelSelector", "", "invalid label selector: "+err.Error(), "fix the selector's keys, operators and values")
	} else {
		sel = s
	}
	if in.Container != "" {
		if errs := validation.IsDNS1123Label(in.Container); len(errs) > 0 {
			c.fail(".container", in.Container, "not a container name: "+errs[0], "name one container of the selected pod, or omit it for its first")
		}
	}
	cmd, msg, fix := checkArgv(in.Command)
	if msg != "" {
		c.fail(".command", "", msg, fix)
	}
	return sel, cmd
}

// job checks the job form: what the API server would reject only once the
// hook runs (no container, restartPolicy Always), and the retries.
func (c *levelCheck) job(in *v1alpha1.BackupLevelJob) *BackupLevelJob {
	j := &BackupLevelJob{}
	in.Template.DeepCopyInto(&j.Template)
	spec := &j.Template.Spec
	if len(spec.Containers) == 0 {
		c.fail(".job.template.spec.containers", "", "no containers", "add the container that runs the hook: {name: ..., image: ..., command: [...]}")
	}
	for i, ct := range spec.Containers {
		if ct.Image == "" {
			c.fail(fmt.Sprintf(".job.template.spec.containers[%d].image", i), "", "no image", "set the image the hook runs")
		}
	}
	switch spec.RestartPolicy {
	case "":
		spec.RestartPolicy = corev1.RestartPolicyNever
	case corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure:
	default:
		c.fail(".job.template.spec.restartPolicy", string(spec.RestartPolicy), "a Job's pods cannot restart "+string(spec.RestartPolicy),
			"use Never (the default) or OnFailure; backoffLimit sets the retries")
	}
	if in.BackoffLimit != nil {
		switch n := *in.BackoffLimit; {
		case n < 0 || n > MaxJobBackoffLimit:
			c.fail(".job.backoffLimit", fmt.Sprint(n), fmt.Sprintf("out of range 0 to %d", MaxJobBackoffLimit),
				"retry a few times at most, and give the hook the timeout it needs")
		default:
			j.BackoffLimit = n
		}
	}
	return j
}

// common checks what both forms share: timeout, onError and when.
func (c *levelCheck) common(in v1alpha1.BackupLevelHook, phase Phase, h *Hook) {
	switch d := in.Timeout.Duration; {
	case d < 0:
		c.fail(".timeout", d.String(), "negative duration", `use a positive duration such as "30s", or omit it for 30s`)
	case d > 0:
		h.Timeout = d
	}
	if in.OnError != "" {
		if oe, msg, fix := parseOnError(string(in.OnError)); msg != "" {
			c.fail(".onError", string(in.OnError), msg, fix)
		} else {
			h.OnError = oe
		}
	}
	if phase != PostBackup {
		if in.When != "" {
			c.fail(".when", in.When, "when is only valid on post hooks",
				"remove it; put the hook under backup.post to gate it on the backup's outcome")
		}
		return
	}
	h.When = Always
	if in.When != "" {
		if w, msg, fix := parseWhen(in.When); msg != "" {
			c.fail(".when", in.When, msg, fix+" (of the backup: OnSuccess when every pod completed)")
		} else {
			h.When = w
		}
	}
}
