package hook

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// VerifyPrefix is the prefix of a pod's check hook, run by `quiesce backup
// verify` in the pod once it is restored and Ready. quiesce's own: Velero
// has no such hook.
const VerifyPrefix = "verify.hook.quiesce.dev"

// DefaultVerifyTimeout bounds a check hook without a timeout annotation.
const DefaultVerifyTimeout = 60 * time.Second

// verifyGroup reads the check hook's keys; command is parsed as Velero's
// command annotations are (a JSON array, or one argument).
var verifyGroup = group{ours: VerifyPrefix, ourNames: []string{KeyContainer, KeyCommand, KeyTimeout}, phase: Verify}

// VerifyHook resolves a pod's check hook from its annotations: nil when it
// declares none. It is a Hook of phase Verify (container, command,
// timeout; a failing check fails the verification, so OnError is Fail).
// A non-nil err is a *ValidationError naming the pod, each bad key and
// its fix; the hook is then nil.
func VerifyHook(pod *corev1.Pod) (*Hook, error) {
	if pod == nil {
		return nil, &ValidationError{Problems: []Problem{{Message: "no pod given"}}}
	}
	t := PodTarget(pod)
	return t.VerifyHook()
}

// VerifyHook is the package-level VerifyHook on a Target (a pod template
// for lint).
func (t *Target) VerifyHook() (*Hook, error) {
	var ps problems
	checkKeys(t.Object, t.Annotations, &ps)
	c := t.annotationVerifyHook(&ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func (t *Target) annotationVerifyHook(ps *problems) *Hook {
	a := annotations{m: t.Annotations, g: verifyGroup}
	cmdKey, cmd, ok := a.ours(KeyCommand)
	if !ok {
		t.orphans(a, KeyCommand, ps)
		return nil
	}
	b := newBuilder(t, t.Object, ps, Verify, "verify-annotation", Source{Kind: "annotation", Ref: cmdKey}, annField(cmdKey))
	b.h.Timeout = DefaultVerifyTimeout
	b.commandString(annField(cmdKey), cmd)
	if k, v, ok := a.ours(KeyContainer); ok {
		b.container(annField(k), v)
	}
	if k, v, ok := a.ours(KeyTimeout); ok {
		b.duration(annField(k), v, &b.h.Timeout, false)
	}
	h, ok := b.finish()
	if !ok {
		return nil
	}
	return &h
}
