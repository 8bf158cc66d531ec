package hook

import (
	"strings"
	"testing"

	"github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// FuzzBackupHooks feeds user-typed annotation values through the parser:
// it must not panic, every problem must name the annotation key or spec
// path it is about, and every returned hook must be runnable.
func FuzzBackupHooks(f *testing.F) {
	f.Add(`["/bin/sh","-c","psql -c CHECKPOINT"]`, "30s", "Fail", "db", "")
	f.Add(`/sbin/fsfreeze`, "300", "Continue", "", "")
	f.Add(`["unterminated`, "-1s", "fail", "nope", "")
	f.Add("", "", "", "", `- {command: [sync], timeout: 10s, onError: Continue, retries: 1}`)
	f.Add(`["sync"]`, "1h", "Fail", "sidecar", `[{"name":"a","command":["x"],"mode":"Hold","hold":{"readyLine":"ok"}},{"name":"a","comand":[]}]`)
	f.Add(`[]`, "0", "", "init-perms", "{not: a list}")
	f.Fuzz(func(t *testing.T, cmd, timeout, onError, container, list string) {
		ann := map[string]string{}
		set := func(k, v string) {
			if v != "" {
				ann[k] = v
			}
		}
		set("pre.hook.backup.velero.io/command", cmd)
		set("pre.hook.backup.velero.io/timeout", timeout)
		set("pre.hook.backup.velero.io/on-error", onError)
		set("pre.hook.backup.velero.io/container", container)
		set("post.hook.backup.quiesce.dev/command", cmd)
		set("post.hook.backup.quiesce.dev/when", onError)
		set("hook.backup.velero.io/command", container)
		set("pre.hook.backup.quiesce.dev/hooks", list)
		set("post.hook.restore.velero.io/wait-timeout", timeout)
		pod := testPod(ann)
		spec := &v1alpha1.BackupHooks{Resources: []v1alpha1.BackupResourceHookSpec{{
			Name:               "fuzz",
			IncludedNamespaces: []string{container},
			PreHooks:           []v1alpha1.BackupResourceHook{{Exec: &v1alpha1.ExecHook{Container: container, Command: []string{cmd}, OnError: v1alpha1.HookErrorMode(onError)}}},
			PostHooks:          []v1alpha1.BackupResourceHook{{}},
		}}}
		pre, post, err := BackupHooks(pod, spec)
		for _, p := range problemStrings(t, err) {
			if !namesAKey(p, ann) {
				t.Errorf("problem names no annotation key or spec path: %s", p)
			}
		}
		for _, h := range append(pre, post...) {
			if len(h.Command) == 0 || h.Command[0] == "" {
				t.Errorf("hook %s has an empty command", h.Name)
			}
			if h.Timeout <= 0 || h.Container == "" || h.OnError == "" {
				t.Errorf("hook %s not fully resolved: %+v", h.Name, h)
			}
			if h.Container != "db" && h.Container != "sidecar" {
				t.Errorf("hook %s runs in %q, not a container of the pod", h.Name, h.Container)
			}
		}
		_, _, err = RestoreHooks(pod, nil)
		for _, p := range problemStrings(t, err) {
			if !namesAKey(p, ann) {
				t.Errorf("restore problem names no annotation key: %s", p)
			}
		}
	})
}

func namesAKey(problem string, ann map[string]string) bool {
	rest := strings.TrimPrefix(problem, "pod shop/db-0: ")
	if strings.HasPrefix(rest, "spec.hooks.resources[") {
		return true
	}
	for k := range ann {
		if strings.HasPrefix(rest, annField(k)) {
			return true
		}
	}
	return false
}
