// Package verify verifies a Backup by restoring it: a Restore of its pods
// into scratch namespaces (the restore runner does the work; this package
// writes no second restore path), a wait for the restored pods to be Ready,
// then each pod's check hook (verify.hook.quiesce.dev/command) run through
// the API server's pods/exec. The outcome is recorded in the Backup's
// status.verification. decide.go holds the pure decisions (names, which
// pods, one pod's result, the phase); run.go carries them out.
package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/podexec"
)

// MaxOutput bounds a check's output excerpt in status.
const MaxOutput = 512

// Eligible reports whether b can be verified: only a backup that ended
// with data (Completed or PartiallyFailed) has something to restore.
func Eligible(b *api.Backup) error {
	switch b.Status.Phase {
	case api.BackupPhaseCompleted, api.BackupPhasePartiallyFailed:
		return nil
	case api.BackupPhaseFailed:
		return fmt.Errorf("backup %s/%s is Failed: it has nothing to restore; verify a Completed or PartiallyFailed backup", b.Namespace, b.Name)
	}
	phase := b.Status.Phase
	if phase == "" {
		phase = api.BackupPhaseNew
	}
	return fmt.Errorf("backup %s/%s is %s, not finished: wait until it is Completed or PartiallyFailed (quiesce backup get %s)",
		b.Namespace, b.Name, phase, b.Name)
}

// ShortHash is 6 hex digits of the parts: what tells one verification's
// scratch namespaces and Restore from another's.
func ShortHash(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:3])
}

// ScratchNamespace is where namespace ns is restored for a verification:
// "<ns>-verify-<hash>", ns cut so the name stays a DNS-1123 label.
func ScratchNamespace(ns, hash string) string {
	suffix := "-verify-" + hash
	return strings.TrimRight(cut(ns, 63-len(suffix)), "-") + suffix
}

// RestoreName names the verification's Restore: "<backup>-verify-<hash>",
// at most 63 characters (it is a label value on every restored object).
func RestoreName(backup, hash string) string {
	suffix := "-verify-" + hash
	return strings.TrimRight(cut(backup, 63-len(suffix)), "-.") + suffix
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Plan is one verification: the Restore to create and the pods to check.
type Plan struct {
	Restore *api.Restore
	// Mapping is backed-up namespace -> scratch namespace.
	Mapping map[string]string
	// Pods are the pods whose volumes were backed up, with their scratch
	// namespace, sorted.
	Pods []api.PodVerification
}

// Build plans the verification of b, whose per-pod report is pods: every pod the backup completed is
// restored, with its namespace's other objects, into the scratch namespace
// of its namespace. Pods the backup skipped or failed have no data to
// verify and are left out. timeout bounds the Restore.
func Build(b *api.Backup, pods []api.PodResult, hash string, timeout time.Duration) (Plan, error) {
	p := Plan{Mapping: map[string]string{}}
	for _, pr := range pods {
		if pr.Phase != api.PodCompleted {
			continue
		}
		dst := ScratchNamespace(pr.Namespace, hash)
		p.Mapping[pr.Namespace] = dst
		p.Pods = append(p.Pods, api.PodVerification{Namespace: pr.Namespace, Name: pr.Name, RestoredNamespace: dst})
	}
	if len(p.Pods) == 0 {
		return Plan{}, fmt.Errorf("backup %s/%s has no pod whose backup completed (%d pods in status): nothing to verify",
			b.Namespace, b.Name, len(pods))
	}
	sort.Slice(p.Pods, func(i, j int) bool { return key(p.Pods[i]) < key(p.Pods[j]) })
	var namespaces []string
	for ns := range p.Mapping {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	rs := &api.Restore{}
	rs.APIVersion, rs.Kind = api.GroupVersion.String(), "Restore"
	rs.Namespace, rs.Name = b.Namespace, RestoreName(b.Name, hash)
	rs.Labels = map[string]string{api.LabelBackup: b.Name, LabelVerification: hash}
	rs.Spec.BackupName = b.Name
	rs.Spec.IncludedNamespaces = namespaces
	rs.Spec.NamespaceMapping = p.Mapping
	rs.Spec.Timeout = durationPtr(timeout)
	p.Restore = rs
	return p, nil
}

// LabelVerification marks the Restore of a verification with its hash.
const LabelVerification = "quiesce.dev/verification"

func key(p api.PodVerification) string { return p.Namespace + "/" + p.Name }

// Readiness says whether a restored pod is Ready, and why not.
func Readiness(pod *corev1.Pod) (ready bool, why string) {
	if pod.DeletionTimestamp != nil {
		return false, "being deleted"
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true, ""
		}
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		return false, fmt.Sprintf("it ended %s", pod.Status.Phase)
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return false, fmt.Sprintf("container %s waiting: %s %s", cs.Name, w.Reason, w.Message)
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return false, fmt.Sprintf("container %s terminated: exit %d %s", cs.Name, t.ExitCode, t.Reason)
		}
	}
	return false, fmt.Sprintf("phase %s", orDefault(string(pod.Status.Phase), "Pending"))
}

// RestoredPod checks what the Restore reports about one pod: a pod it
// restored volume data or hooks for must have Completed there. A pod it
// does not list (no volume data, no hooks) is judged by its readiness.
func RestoredPod(rs *api.Restore, ns, name string) error {
	if rs.Status.Phase == api.RestorePhaseFailed {
		return fmt.Errorf("restore %s failed: %s", rs.Name, orDefault(rs.Status.FailureReason, "see quiesce restore describe "+rs.Name))
	}
	for _, p := range rs.Status.Pods {
		if p.Namespace != ns || p.Name != name {
			continue
		}
		if p.Phase != api.RestorePodCompleted {
			return fmt.Errorf("its restore ended %s: %s (quiesce restore describe %s)", p.Phase, orDefault(p.Reason, "-"), rs.Name)
		}
	}
	return nil
}

// NoCheck is the message of a pod passed without a check hook.
const NoCheck = "no check hook (" + "verify.hook.quiesce.dev/command" + "): passed on its restore completing and the pod becoming Ready"

// CheckOutcome is what running a check produced: the exec's result and
// error, whether its timeout passed first, and how long it took.
type CheckOutcome struct {
	Result   podexec.Result
	Err      error
	TimedOut bool
	Timeout  time.Duration
	Duration time.Duration
}

// Checked folds a check's outcome into the pod's result.
func Checked(v api.PodVerification, container string, o CheckOutcome) api.PodVerification {
	v.Checked, v.Container = true, container
	v.Duration.Duration = o.Duration
	v.ExitCode = o.Result.ExitCode
	v.Output = Excerpt(strings.TrimSpace(strings.TrimSpace(o.Result.Stdout) + "\n" + strings.TrimSpace(o.Result.Stderr)))
	switch {
	case o.TimedOut:
		v.ExitCode = -1
		v.Error = fmt.Sprintf("check timed out after %s (API-server exec does not kill the process; raise verify.hook.quiesce.dev/timeout if it needs longer)", Seconds(o.Timeout))
	case o.Err != nil:
		v.ExitCode = -1
		v.Error = "check could not be run: " + o.Err.Error()
	case o.Result.ExitCode != 0:
		v.Error = fmt.Sprintf("check exited %d", o.Result.ExitCode)
	}
	v.Passed = v.Error == ""
	return v
}

// Seconds writes whole-second durations as "60s", the way a timeout
// annotation is usually written.
func Seconds(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return d.String()
}

// Excerpt keeps the last MaxOutput bytes of s, cut at a rune boundary, with
// "…" first when something was dropped (the "…" counts).
func Excerpt(s string) string {
	if len(s) <= MaxOutput {
		return s
	}
	const mark = "…"
	tail := s[len(s)-(MaxOutput-len(mark)):]
	for len(tail) > 0 && !utf8.RuneStart(tail[0]) {
		tail = tail[1:]
	}
	return mark + tail
}

// Fold decides the verification's phase from its pods' results: Passed
// when every pod passed, else Failed with a reason naming the failed pods.
func Fold(pods []api.PodVerification) (api.VerificationPhase, string) {
	var failed []string
	for _, p := range pods {
		if !p.Passed {
			failed = append(failed, fmt.Sprintf("pod %s/%s: %s", p.Namespace, p.Name, orDefault(p.Error, "not verified")))
		}
	}
	if len(failed) == 0 {
		return api.VerificationPassed, ""
	}
	return api.VerificationFailed, fmt.Sprintf("%d of %d pods failed: %s", len(failed), len(pods), strings.Join(failed, "; "))
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func failed(v api.PodVerification, why string) api.PodVerification {
	v.Passed, v.Error = false, why
	return v
}

// failAll fails every pod with the same reason: the restore did not get
// as far as the pods.
func failAll(pods []api.PodVerification, why string) []api.PodVerification {
	out := make([]api.PodVerification, len(pods))
	for i, p := range pods {
		out[i] = failed(p, why)
	}
	return out
}

func outcome(p api.PodVerification) string {
	switch {
	case !p.Passed:
		return "Failed: " + p.Error
	case p.Checked:
		return fmt.Sprintf("Passed (check exit 0 in %s)", p.Duration.Duration.Round(time.Millisecond))
	}
	return "Passed (no check hook)"
}

func mappingString(m map[string]string) string {
	var parts []string
	for _, src := range sortedKeys(m) {
		parts = append(parts, src+" -> "+m[src])
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedValues(m map[string]string) []string {
	var vals []string
	for _, k := range sortedKeys(m) {
		vals = append(vals, m[k])
	}
	return vals
}

func durationPtr(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
