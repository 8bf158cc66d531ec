package hook

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Pod annotations of quiesce's own under backup.quiesce.dev/: they shape a
// pod's backup rather than its hooks.
const (
	SettingsPrefix = "backup.quiesce.dev"

	// AnnGroup names the pod's consistency group: its members are frozen in
	// ascending AnnOrder, captured once all are frozen, thawed in reverse.
	AnnGroup     = SettingsPrefix + "/group"
	AnnOrder     = SettingsPrefix + "/order"
	AnnMaxFreeze = SettingsPrefix + "/max-freeze"
	// AnnFreeze asks the agent to freeze the pod without anything inside
	// it: "containers" pauses every app container through the runtime
	// around the capture, "containers:a,b" only those; "filesystem"
	// freezes each backed-up volume's own filesystem.
	AnnFreeze = SettingsPrefix + "/freeze"
	// AnnBackupVolumes and AnnVolumesExcludes are ours of Velero's
	// backup.velero.io/backup-volumes and backup-volumes-excludes; the
	// coordinator reads them with the pod's volumes.
	AnnBackupVolumes   = SettingsPrefix + "/backup-volumes"
	AnnVolumesExcludes = SettingsPrefix + "/backup-volumes-excludes"
)

var settingsNames = []string{"group", "order", "max-freeze", "freeze", "backup-volumes", "backup-volumes-excludes"}

// Settings are what a pod's backup.quiesce.dev annotations set.
type Settings struct {
	// Group is the pod's consistency group ("": none) and Order its place
	// in it.
	Group string
	Order int
	// MaxFreeze overrides the Backup's freeze deadline for the pod; zero
	// means not set.
	MaxFreeze time.Duration
	// Pause lists the containers to pause (AnnFreeze "containers").
	Pause []string
	// FreezeFilesystems asks for the filesystems of the pod's backed-up
	// volumes to be frozen (AnnFreeze "filesystem").
	FreezeFilesystems bool
}

// BackupSettings reads a pod's backup.quiesce.dev annotations. A non-nil
// error is a *ValidationError with every problem: a key under
// backup.quiesce.dev/ that quiesce does not read (a typo such as "grup",
// with the nearest key suggested), an order that is not an integer or has
// no group, a max-freeze that is not a positive duration with a unit. The
// Settings returned leave out the values with a problem.
func BackupSettings(pod *corev1.Pod) (Settings, error) {
	if pod == nil {
		return Settings{}, &ValidationError{Problems: []Problem{{Message: "no pod given"}}}
	}
	t := PodTarget(pod)
	return t.BackupSettings()
}

// BackupSettings is the package-level BackupSettings on a Target.
func (t *Target) BackupSettings() (Settings, error) {
	var ps problems
	var s Settings
	m := t.Annotations
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		prefix, name, _ := strings.Cut(k, "/")
		if prefix == SettingsPrefix && !contains(settingsNames, name) {
			ps.add(Problem{Object: t.Object, Field: annField(k), Value: m[k],
				Message: "unknown annotation key", Fix: suggestName(prefix, name, settingsNames)})
		}
	}
	s.Group = strings.TrimSpace(m[AnnGroup])
	if raw, ok := m[AnnOrder]; ok {
		order, err := strconv.Atoi(strings.TrimSpace(raw))
		switch {
		case err != nil:
			ps.add(Problem{Object: t.Object, Field: annField(AnnOrder), Value: raw,
				Message: "not an integer", Fix: `use e.g. "1"; lower orders freeze first`})
		case s.Group == "":
			ps.add(Problem{Object: t.Object, Field: annField(AnnOrder), Value: raw,
				Message: fmt.Sprintf("set without %q", AnnGroup), Fix: "name the consistency group"})
		default:
			s.Order = order
		}
	}
	if raw, ok := m[AnnMaxFreeze]; ok {
		d, msg, fix := ParseDuration(raw, false)
		if msg != "" {
			ps.add(Problem{Object: t.Object, Field: annField(AnnMaxFreeze), Value: raw, Message: msg, Fix: fix})
		}
		s.MaxFreeze = d
	}
	if raw, ok := m[AnnFreeze]; ok {
		t.freezeSetting(&s, &ps, raw)
	}
	return s, ps.err()
}

// freezeSetting reads AnnFreeze into s.
func (t *Target) freezeSetting(s *Settings, ps *problems, raw string) {
	var all []string
	if t.Spec != nil {
		for _, c := range t.Spec.Containers {
			all = append(all, c.Name)
		}
	}
	bad := func(msg, fix string) {
		ps.add(Problem{Object: t.Object, Field: annField(AnnFreeze), Value: raw, Message: msg, Fix: fix})
	}
	mode, list, hasList := strings.Cut(strings.TrimSpace(raw), ":")
	switch {
	case mode == "containers" && !hasList:
		s.Pause = all
	case mode == "containers":
		var pause []string
		for _, n := range strings.Split(list, ",") {
			n = strings.TrimSpace(n)
			if t.Spec != nil && !contains(all, n) {
				bad(fmt.Sprintf("the pod has no container %q", n), "name one of its containers: "+strings.Join(all, ", "))
				return
			}
			if !contains(pause, n) {
				pause = append(pause, n)
			}
		}
		s.Pause = pause
	case mode == "filesystem" && !hasList:
		s.FreezeFilesystems = true
	default:
		bad("unknown freeze mode", `use "containers" for all the pod's containers, "containers:NAME,...", or "filesystem" for its volumes' filesystems`)
	}
}
