package hook

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// annotationBackupHooks reads one backup phase's hooks from annotations.
// key is the annotation that declares the phase ("" if none): such a
// declaration replaces the phase's spec hooks, even when it is invalid.
func (t *Target) annotationBackupHooks(phase Phase, ps *problems) (hooks []Hook, key string) {
	g := preGroup
	if phase == PostBackup {
		g = postGroup
	}
	a := annotations{m: t.Annotations, g: g}
	if key, val, ok := a.ours(KeyHooks); ok {
		t.conflictsWithList(a, key, ps)
		return t.listHooks(phase, key, val, ps), key
	}
	if key, _, ok := a.get(KeyCommand); ok {
		if phase == PreBackup {
			t.legacyIgnored(ps)
		}
		return t.singleBackupHook(a, phase, key, ps), key
	}
	if phase == PreBackup {
		legacy := annotations{m: t.Annotations, g: legacyGroup}
		if key, _, ok := legacy.get(KeyCommand); ok {
			t.orphans(a, KeyCommand, ps)
			return t.singleBackupHook(legacy, phase, key, ps), key
		}
		t.orphans(legacy, KeyCommand, ps)
	}
	t.orphans(a, KeyCommand, ps)
	return nil, ""
}

// orphans reports keys of a group that do nothing because the group has no
// command (or, for init hooks, no image): want is that key's name.
func (t *Target) orphans(a annotations, want string, ps *problems) {
	for _, k := range a.present() {
		prefix, name, _ := strings.Cut(k, "/")
		if !contains(a.g.veleroNames, name) && !contains(a.g.ourNames, name) {
			continue // reported by checkKeys
		}
		ps.add(Problem{Object: t.Object, Field: annField(k), Value: a.m[k],
			Message: fmt.Sprintf("has no effect without a %s annotation", want),
			Fix:     fmt.Sprintf("add %q, or remove this key", prefix+"/"+want)})
	}
}

// legacyIgnored reports legacy hook.backup.velero.io keys shadowed by the
// phased pre-hook keys (Velero ignores them silently).
func (t *Target) legacyIgnored(ps *problems) {
	legacy := annotations{m: t.Annotations, g: legacyGroup}
	for _, k := range legacy.present() {
		ps.add(Problem{Object: t.Object, Field: annField(k), Value: legacy.m[k],
			Message: "ignored: the pre.hook.backup.* annotations take precedence over the legacy keys",
			Fix:     "remove the legacy hook.backup.velero.io keys"})
	}
}

// conflictsWithList reports single-hook keys under our prefix next to our
// list: the list is the phase's hooks, the single keys would be lost. Keys
// under velero.io are not reported: a pod may carry both, Velero reading
// its keys and quiesce the list.
func (t *Target) conflictsWithList(a annotations, listKey string, ps *problems) {
	for _, k := range a.present() {
		prefix, _, _ := strings.Cut(k, "/")
		if k == listKey || prefix != a.g.ours {
			continue
		}
		ps.add(Problem{Object: t.Object, Field: annField(k), Value: a.m[k],
			Message: fmt.Sprintf("ignored: %q lists this phase's hooks", listKey),
			Fix:     "move this setting into an entry of the list, or remove it"})
	}
}

func (t *Target) singleBackupHook(a annotations, phase Phase, cmdKey string, ps *problems) []Hook {
	name := string(phase) + "-annotation"
	b := newBuilder(t, t.Object, ps, phase, name, Source{Kind: "annotation", Ref: cmdKey}, annField(cmdKey))
	_, cmd, _ := a.get(KeyCommand)
	b.commandString(annField(cmdKey), cmd)
	if k, v, ok := a.get(KeyContainer); ok {
		b.container(annField(k), v)
	}
	if k, v, ok := a.get(KeyTimeout); ok {
		b.duration(annField(k), v, &b.h.Timeout, false)
	}
	if k, v, ok := a.get(KeyOnError); ok {
		b.onError(annField(k), v)
	}
	if k, v, ok := a.ours(KeyRetries); ok {
		b.retries(annField(k), v)
	}
	if k, v, ok := a.ours(KeyWhen); ok {
		b.when(annField(k), v)
	}
	if k, v, ok := a.ours(KeyMode); ok {
		b.mode(annField(k), v)
	}
	if k, v, ok := a.ours(KeyReadyLine); ok && b.holdValue(annField(k)) {
		b.hold.ReadyLine = v
	}
	if k, v, ok := a.ours(KeyReadyTimeout); ok && b.holdValue(annField(k)) {
		b.duration(annField(k), v, &b.hold.ReadyTimeout, false)
		b.readySet = true
	}
	if k, v, ok := a.ours(KeyReleaseInput); ok && b.holdValue(annField(k)) {
		b.hold.ReleaseInput = v
	}
	if k, v, ok := a.ours(KeyReleaseTimeout); ok && b.holdValue(annField(k)) {
		b.duration(annField(k), v, &b.hold.ReleaseTimeout, false)
	}
	if h, ok := b.finish(); ok {
		return []Hook{h}
	}
	return nil
}

// annotationRestoreHooks reads the post-restore exec hooks from annotations;
// key is the annotation that declares them, as in annotationBackupHooks.
func (t *Target) annotationRestoreHooks(ps *problems) (hooks []Hook, key string) {
	a := annotations{m: t.Annotations, g: restoreGroup}
	if key, val, ok := a.ours(KeyHooks); ok {
		t.conflictsWithList(a, key, ps)
		return t.listHooks(PostRestore, key, val, ps), key
	}
	cmdKey, cmd, ok := a.get(KeyCommand)
	if !ok {
		t.orphans(a, KeyCommand, ps)
		return nil, ""
	}
	b := newBuilder(t, t.Object, ps, PostRestore, "post-restore-annotation",
		Source{Kind: "annotation", Ref: cmdKey}, annField(cmdKey))
	b.commandString(annField(cmdKey), cmd)
	if k, v, ok := a.get(KeyContainer); ok {
		b.container(annField(k), v)
	}
	if k, v, ok := a.get(KeyOnError); ok {
		b.onError(annField(k), v)
	}
	if k, v, ok := a.get(KeyExecTimeout); ok {
		b.duration(annField(k), v, &b.h.Timeout, false)
	}
	if k, v, ok := a.get(KeyWaitTimeout); ok {
		b.duration(annField(k), v, &b.h.WaitTimeout, true)
	}
	if k, v, ok := a.get(KeyWaitForReady); ok {
		b.waitForReady(annField(k), v)
	}
	if k, v, ok := a.ours(KeyRetries); ok {
		b.retries(annField(k), v)
	}
	if h, ok := b.finish(); ok {
		return []Hook{h}, cmdKey
	}
	return nil, cmdKey
}

// DefaultInitContainerName names an annotation init hook's container when
// container-name is not set (Velero generates a random name instead).
const DefaultInitContainerName = "quiesce-restore-init"

// annotationInitHooks reads the init-container restore hook; it exists
// when container-image is set, as in Velero. key is that annotation.
func (t *Target) annotationInitHooks(ps *problems) (hooks []InitHook, key string) {
	a := annotations{m: t.Annotations, g: initGroup}
	imgKey, img, ok := a.get(KeyContainerImage)
	if !ok {
		t.orphans(a, KeyContainerImage, ps)
		return nil, ""
	}
	bad := false
	fail := func(key, value, msg, fix string) {
		bad = true
		ps.add(Problem{Object: t.Object, Field: annField(key), Value: value, Message: msg, Fix: fix})
	}
	h := InitHook{Name: "init-restore-annotation", Source: Source{Kind: "annotation", Ref: imgKey}}
	if strings.TrimSpace(img) == "" {
		fail(imgKey, img, "empty image", "set an image such as busybox:1.37")
	}
	h.Container.Image = img
	h.Container.Name = DefaultInitContainerName
	if k, v, ok := a.get(KeyContainerName); ok {
		if v == "" {
			fail(k, v, "empty container name", "set a name, or remove the key for "+DefaultInitContainerName)
		} else if msg, fix := checkContainerName(v); msg != "" {
			fail(k, v, msg, fix)
		}
		h.Container.Name = v
	}
	if k, v, ok := a.get(KeyCommand); ok {
		// An init container may use its image's entrypoint: no command is fine.
		cmd, msg, fix := parseCommand(v)
		if msg != "" {
			fail(k, v, msg, fix)
		}
		h.Container.Command = cmd
	}
	if k, v, ok := a.get(KeyTimeout); ok {
		d, msg, fix := ParseDuration(v, true)
		if msg != "" {
			fail(k, v, msg, fix)
		}
		h.Timeout = d
	}
	if bad {
		return nil, imgKey
	}
	return []InitHook{h}, imgKey
}

// listFields are the fields of an entry of a "hooks" list annotation, by
// the phases they are valid in.
var listFields = map[string][]Phase{
	"name":         {PreBackup, PostBackup, PostRestore},
	"container":    {PreBackup, PostBackup, PostRestore},
	"command":      {PreBackup, PostBackup, PostRestore},
	"timeout":      {PreBackup, PostBackup, PostRestore},
	"onError":      {PreBackup, PostBackup, PostRestore},
	"retries":      {PreBackup, PostBackup, PostRestore},
	"when":         {PostBackup},
	"mode":         {PreBackup},
	"hold":         {PreBackup},
	"waitTimeout":  {PostRestore},
	"waitForReady": {PostRestore},
}

var holdFields = []string{"readyLine", "readyTimeout", "releaseInput", "releaseTimeout"}

// listHooks parses a "hooks" annotation: a YAML or JSON list of hooks run
// in order.
func (t *Target) listHooks(phase Phase, key, val string, ps *problems) []Hook {
	var items []json.RawMessage
	js, err := yaml.YAMLToJSON([]byte(val))
	if err == nil {
		if strings.TrimSpace(string(js)) == "null" {
			return nil // empty value: no hooks, spec hooks still replaced
		}
		err = json.Unmarshal(js, &items)
	}
	if err != nil {
		ps.add(Problem{Object: t.Object, Field: annField(key), Value: val,
			Message: "not a YAML or JSON list of hooks: " + err.Error(),
			Fix:     `write e.g. [{"container":"db","command":["/bin/sh","-c","sync"]}]`})
		return nil
	}
	var hooks []Hook
	seen := map[string]int{}
	for i, raw := range items {
		base := fmt.Sprintf("annotation %q[%d]", key, i)
		field := func(name string) string { return base + "." + name }
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			ps.add(Problem{Object: t.Object, Field: base, Message: "not a hook object",
				Fix: `write {"command":[...]} with optional container, timeout, onError, ...`})
			continue
		}
		b := newBuilder(t, t.Object, ps, phase, fmt.Sprintf("%s[%d]", phase, i),
			Source{Kind: "annotation", Ref: fmt.Sprintf("%s[%d]", key, i)}, base)
		names := make([]string, 0, len(m))
		for n := range m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			v := m[n]
			phases, known := listFields[n]
			switch {
			case !known:
				all := make([]string, 0, len(listFields))
				for f := range listFields {
					all = append(all, f)
				}
				fix := "remove it"
				if best, ok := Nearest(n, all); ok {
					fix = fmt.Sprintf("did you mean %q?", best)
				}
				b.fail(field(n), "", "unknown field", fix)
				continue
			case !containsPhase(phases, phase):
				b.fail(field(n), "", fmt.Sprintf("%s is not valid on %s hooks", n, phaseName(phase)),
					fmt.Sprintf("it is valid on %s hooks only", phaseNames(phases)))
				continue
			}
			switch n {
			case "name":
				if s, ok := b.str(field(n), v); ok {
					if s == "" {
						b.fail(field(n), "", "empty name", "set a name, or remove it for the default")
					} else if j, dup := seen[s]; dup {
						b.fail(field(n), s, fmt.Sprintf("name already used by entry [%d]", j), "give each hook its own name")
					} else {
						seen[s] = i
						b.h.Name = s
					}
				}
			case "container":
				if s, ok := b.str(field(n), v); ok {
					b.container(field(n), s)
				}
			case "command":
				var cmd []string
				if err := json.Unmarshal(v, &cmd); err != nil {
					b.commandField = field(n)
					b.fail(field(n), string(v), "not a list of strings",
						`write it as ["/bin/sh","-c","..."]: a list is never split or run by a shell`)
				} else {
					b.commandList(field(n), cmd)
				}
			case "timeout":
				if s, ok := b.durationStr(field(n), v); ok {
					b.duration(field(n), s, &b.h.Timeout, false)
				}
			case "waitTimeout":
				if s, ok := b.durationStr(field(n), v); ok {
					b.duration(field(n), s, &b.h.WaitTimeout, true)
				}
			case "onError":
				if s, ok := b.str(field(n), v); ok {
					b.onError(field(n), s)
				}
			case "when":
				if s, ok := b.str(field(n), v); ok {
					b.when(field(n), s)
				}
			case "mode":
				if s, ok := b.str(field(n), v); ok {
					b.mode(field(n), s)
				}
			case "retries":
				var r int
				if err := json.Unmarshal(v, &r); err != nil || r < 0 {
					b.fail(field(n), string(v), "not a non-negative integer", "use e.g. 2")
				} else if msg, fix := checkRetries(r); msg != "" {
					b.fail(field(n), string(v), msg, fix)
				} else {
					b.h.Retries = r
				}
			case "waitForReady":
				var w bool
				if err := json.Unmarshal(v, &w); err != nil {
					b.fail(field(n), string(v), "not a boolean", "use true or false")
				} else {
					b.h.WaitForReady = w
				}
			case "hold":
				b.holdObject(field(n), v)
			}
		}
		if h, ok := b.finish(); ok {
			hooks = append(hooks, h)
		}
	}
	return hooks
}

func (b *builder) holdObject(field string, v json.RawMessage) {
	if !b.holdValue(field) {
		return
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(v, &m); err != nil {
		b.fail(field, string(v), "not an object", `write e.g. {"readyLine":"frozen","releaseInput":"\\q\n"}`)
		return
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := field + "." + n
		switch n {
		case "readyLine":
			if s, ok := b.str(f, m[n]); ok {
				b.hold.ReadyLine = s
			}
		case "releaseInput":
			if s, ok := b.str(f, m[n]); ok {
				b.hold.ReleaseInput = s
			}
		case "readyTimeout":
			if s, ok := b.durationStr(f, m[n]); ok {
				b.duration(f, s, &b.hold.ReadyTimeout, false)
				b.readySet = true
			}
		case "releaseTimeout":
			if s, ok := b.durationStr(f, m[n]); ok {
				b.duration(f, s, &b.hold.ReleaseTimeout, false)
			}
		default:
			fix := "remove it"
			if best, ok := Nearest(n, holdFields); ok {
				fix = fmt.Sprintf("did you mean %q?", best)
			}
			b.fail(f, "", "unknown field", fix)
		}
	}
}

func (b *builder) str(field string, v json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		b.fail(field, string(v), "not a string", "quote the value")
		return "", false
	}
	return s, true
}

// durationStr reads a duration field; a bare number is reported like "300".
func (b *builder) durationStr(field string, v json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		var f float64
		if json.Unmarshal(v, &f) == nil {
			b.fail(field, string(v), "not a duration", fmt.Sprintf("use e.g. %q", string(v)+"s"))
			return "", false
		}
		b.fail(field, string(v), "not a duration", `use e.g. "30s"`)
		return "", false
	}
	return s, true
}

func containsPhase(list []Phase, p Phase) bool {
	for _, x := range list {
		if x == p {
			return true
		}
	}
	return false
}

func phaseName(p Phase) string {
	switch p {
	case PreBackup:
		return "pre-backup"
	case PostBackup:
		return "post-backup"
	}
	return string(p)
}

func phaseNames(ps []Phase) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = phaseName(p)
	}
	return strings.Join(s, ", ")
}
