package hook

import (
	"fmt"
	"sort"
	"strings"
)

// Annotation prefixes. A key is "<prefix>/<name>". For every name Velero
// knows, the key under quiesce.dev wins over the key under velero.io.
const (
	PreBackupPrefix   = "pre.hook.backup.quiesce.dev"
	PostBackupPrefix  = "post.hook.backup.quiesce.dev"
	PostRestorePrefix = "post.hook.restore.quiesce.dev"
	InitRestorePrefix = "init.hook.restore.quiesce.dev"

	VeleroPreBackupPrefix    = "pre.hook.backup.velero.io"
	VeleroPostBackupPrefix   = "post.hook.backup.velero.io"
	VeleroLegacyBackupPrefix = "hook.backup.velero.io" // unprefixed: means pre
	VeleroPostRestorePrefix  = "post.hook.restore.velero.io"
	VeleroInitRestorePrefix  = "init.hook.restore.velero.io"
)

// Annotation names (the part after the "/").
const (
	KeyContainer      = "container"
	KeyCommand        = "command"
	KeyTimeout        = "timeout"
	KeyOnError        = "on-error"
	KeyRetries        = "retries"
	KeyWhen           = "when"
	KeyMode           = "mode"
	KeyReadyLine      = "ready-line"
	KeyReadyTimeout   = "ready-timeout"
	KeyReleaseInput   = "release-input"
	KeyReleaseTimeout = "release-timeout"
	KeyHooks          = "hooks"
	KeyExecTimeout    = "exec-timeout"
	KeyWaitTimeout    = "wait-timeout"
	KeyWaitForReady   = "wait-for-ready"
	KeyContainerImage = "container-image"
	KeyContainerName  = "container-name"
)

// group is one family of annotation prefixes that share their names.
type group struct {
	// ours is the quiesce.dev prefix; velero the velero.io prefixes it
	// overrides, in priority order.
	ours   string
	velero []string
	// veleroNames are the names Velero reads; ourNames the names only
	// quiesce reads. Names valid in a sibling phase but not this one are
	// reported as "wrong phase", not "unknown".
	veleroNames []string
	ourNames    []string
	phase       Phase
}

var (
	backupVeleroNames = []string{KeyContainer, KeyCommand, KeyTimeout, KeyOnError}
	backupOurNames    = []string{KeyRetries, KeyWhen, KeyMode, KeyReadyLine, KeyReadyTimeout, KeyReleaseInput, KeyReleaseTimeout, KeyHooks}

	preGroup = group{ours: PreBackupPrefix, velero: []string{VeleroPreBackupPrefix},
		veleroNames: backupVeleroNames, ourNames: backupOurNames, phase: PreBackup}
	postGroup = group{ours: PostBackupPrefix, velero: []string{VeleroPostBackupPrefix},
		veleroNames: backupVeleroNames, ourNames: backupOurNames, phase: PostBackup}
	legacyGroup = group{velero: []string{VeleroLegacyBackupPrefix},
		veleroNames: backupVeleroNames, phase: PreBackup}
	restoreGroup = group{ours: PostRestorePrefix, velero: []string{VeleroPostRestorePrefix},
		veleroNames: []string{KeyContainer, KeyCommand, KeyOnError, KeyExecTimeout, KeyWaitTimeout, KeyWaitForReady},
		ourNames:    []string{KeyRetries, KeyHooks}, phase: PostRestore}
	initGroup = group{ours: InitRestorePrefix, velero: []string{VeleroInitRestorePrefix},
		veleroNames: []string{KeyContainerImage, KeyContainerName, KeyCommand, KeyTimeout}, phase: InitRestore}

	groups = []group{preGroup, postGroup, legacyGroup, restoreGroup, initGroup, verifyGroup}
)

// annotations looks keys up in one group, ours first.
type annotations struct {
	m map[string]string
	g group
}

// get returns the winning key and value for name.
func (a annotations) get(name string) (key, val string, ok bool) {
	if a.g.ours != "" {
		k := a.g.ours + "/" + name
		if v, ok := a.m[k]; ok {
			return k, v, true
		}
	}
	for _, p := range a.g.velero {
		k := p + "/" + name
		if v, ok := a.m[k]; ok {
			return k, v, true
		}
	}
	return "", "", false
}

// ours returns the value of name under our prefix only.
func (a annotations) ours(name string) (key, val string, ok bool) {
	if a.g.ours == "" {
		return "", "", false
	}
	k := a.g.ours + "/" + name
	v, ok := a.m[k]
	return k, v, ok
}

// present lists the keys of this group that are set, sorted.
func (a annotations) present() []string {
	var keys []string
	for k := range a.m {
		prefix, _, _ := strings.Cut(k, "/")
		if prefix == a.g.ours || contains(a.g.velero, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkKeys reports keys under a hook prefix (ours or Velero's) that no
// group knows: typos such as "pre.hook.backup.quiesce.dev/comand", Velero
// keys that only exist under our domain ("pre.hook.backup.velero.io/mode"),
// and misspelled prefixes ("pre.hooks.backup.quiesce.dev/command").
func checkKeys(object string, m map[string]string, ps *problems) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		prefix, name, found := strings.Cut(k, "/")
		if !found || !strings.Contains(prefix, "hook") {
			continue
		}
		ourDomain := strings.HasSuffix(prefix, ".quiesce.dev")
		if !ourDomain && !strings.HasSuffix(prefix, ".velero.io") {
			continue
		}
		g, known := groupOf(prefix)
		if !known {
			ps.add(Problem{Object: object, Field: annField(k), Value: m[k],
				Message: "unknown hook annotation prefix", Fix: suggestPrefix(prefix, name, ourDomain)})
			continue
		}
		isOurs := prefix == g.ours
		switch {
		case contains(g.veleroNames, name):
		case isOurs && contains(g.ourNames, name):
		case !isOurs && contains(g.ourNames, name):
			ps.add(Problem{Object: object, Field: annField(k), Value: m[k],
				Message: fmt.Sprintf("%q is a quiesce extension, Velero does not read it", name),
				Fix:     fmt.Sprintf("use %q", g.ours+"/"+name)})
		default:
			names := append(append([]string(nil), g.veleroNames...), g.ourNames...)
			if !isOurs {
				names = g.veleroNames
			}
			ps.add(Problem{Object: object, Field: annField(k), Value: m[k],
				Message: "unknown hook annotation key", Fix: suggestName(prefix, name, names)})
		}
	}
}

// MaxAnnotationsBytes is Kubernetes' limit on the total size of an
// object's annotations, keys and values (TotalAnnotationSizeLimitB of
// k8s.io/apimachinery/pkg/api/validation): the API server refuses a pod or
// a pod template over it.
const MaxAnnotationsBytes = 256 << 10

// checkSize reports annotations over MaxAnnotationsBytes, naming the
// largest: a manifest that lint passes should also be accepted.
func checkSize(object string, m map[string]string, ps *problems) {
	total, largest := 0, ""
	for k, v := range m {
		total += len(k) + len(v)
		if largest == "" || len(v) > len(m[largest]) || len(v) == len(m[largest]) && k < largest {
			largest = k
		}
	}
	if total <= MaxAnnotationsBytes {
		return
	}
	ps.add(Problem{Object: object, Field: annField(largest),
		Message: fmt.Sprintf("value of %d bytes: the annotations total %d bytes, over Kubernetes' limit of %d (256 KiB), so the API server refuses the object",
			len(m[largest]), total, MaxAnnotationsBytes),
		Fix: "keep long scripts in the image or a mounted ConfigMap, and call them from a short command"})
}

func groupOf(prefix string) (group, bool) {
	for _, g := range groups {
		if prefix == g.ours || contains(g.velero, prefix) {
			return g, true
		}
	}
	return group{}, false
}

func suggestName(prefix, name string, names []string) string {
	if best, ok := Nearest(name, names); ok {
		return fmt.Sprintf("did you mean %q?", prefix+"/"+best)
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	return fmt.Sprintf("known keys under %s/: %s", prefix, strings.Join(sorted, ", "))
}

func suggestPrefix(prefix, name string, ours bool) string {
	var cands []string
	for _, g := range groups {
		if ours && g.ours != "" {
			cands = append(cands, g.ours)
		}
		if !ours {
			cands = append(cands, g.velero...)
		}
	}
	if best, ok := Nearest(prefix, cands); ok {
		return fmt.Sprintf("did you mean %q?", best+"/"+name)
	}
	sort.Strings(cands)
	return "known prefixes: " + strings.Join(cands, ", ")
}

// Nearest returns the candidate closest to s by edit distance, if it is
// close enough to be a likely typo.
func Nearest(s string, cands []string) (string, bool) {
	for _, c := range cands {
		// "timeout" for "exec-timeout", "image" for "container-image"
		if len(s) >= 4 && strings.HasSuffix(c, "-"+s) {
			return c, true
		}
	}
	best, bestD := "", -1
	for _, c := range cands {
		d := editDistance(s, c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(2, len(s)/3)
	return best, bestD >= 0 && bestD <= limit
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
