package hook

import (
	"reflect"
	"testing"
)

// A spec hook that selects the pod but is replaced by the pod's annotation
// hooks of its phase is never looked at (as in Velero): a container the pod
// does not have must not fail the pod. It is only a note, for lint.
func TestReplacedSpecHookDoesNotFailThePod(t *testing.T) {
	spec := backupSpec(t, `
resources:
- name: web
  includedNamespaces: [shop]
  pre:
  - exec: {container: web, command: [/app/flush]}
  post:
  - exec: {container: web, command: [/app/resume]}
`)
	pod := podIn("shop", nil, map[string]string{
		"pre.hook.backup.velero.io/command": `["/bin/sync"]`,
	}, "db")
	tgt := PodTarget(pod)
	tgt.SpecObject = "backup velero/nightly"
	pre, post, err := tgt.BackupHooks(spec)
	if err == nil {
		t.Fatal("want the post spec hook (not replaced) to report its unknown container")
	}
	// Only the post hook, which the annotations do not replace, is the
	// pod's problem.
	want := []string{`pod shop/db-0: backup velero/nightly spec.hooks.resources[0].post[0].exec.container="web": no such container in the pod (use one of: db)`}
	if got := problemStrings(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got  %q\n want %q", got, want)
	}
	if len(pre) != 1 || pre[0].Name != "pre-annotation" || len(post) != 0 {
		t.Errorf("pre = %+v, post = %+v", pre, post)
	}
	wantNotes := []string{`pod shop/db-0: backup velero/nightly spec.hooks.resources[0].pre[0]: not run and not checked: the pod's annotation "pre.hook.backup.velero.io/command" replaces the spec hooks of this phase, as in Velero (to run it as well, add it to the pod's hooks annotation instead)`}
	if got := strs(tgt.BackupNotes(spec)); !reflect.DeepEqual(got, wantNotes) {
		t.Errorf("notes:\n got  %q\n want %q", got, wantNotes)
	}

	// Both phases replaced: the pod resolves cleanly.
	pod.Annotations["post.hook.backup.quiesce.dev/hooks"] = `[]`
	pre, post, err = BackupHooks(pod, spec)
	if err != nil || len(pre) != 1 || len(post) != 0 {
		t.Errorf("pre = %+v, post = %+v, err = %v: want the annotation pre-hook, no post-hooks, no error", pre, post, err)
	}
}

func TestReplacedRestoreSpecHooksDoNotFailThePod(t *testing.T) {
	spec := restoreSpec(t, `
resources:
- name: web
  postHooks:
  - exec: {container: web, command: [/app/reindex]}
  - init: {initContainers: [{name: fix-perms, image: busybox, command: [chown, -R, "1000", /data]}]}
`)
	pod := podIn("shop", nil, map[string]string{
		"post.hook.restore.velero.io/command":         `["/bin/true"]`,
		"init.hook.restore.velero.io/container-image": "busybox:1.37",
	}, "db")
	post, init, err := RestoreHooks(pod, spec)
	if err != nil {
		t.Fatalf("err = %v: a replaced restore hook must not fail the pod", err)
	}
	if len(post) != 1 || post[0].Name != "post-restore-annotation" || len(init) != 1 || init[0].Name != "init-restore-annotation" {
		t.Errorf("post = %+v, init = %+v", post, init)
	}
	tgt := PodTarget(pod)
	if notes := tgt.RestoreNotes(spec); len(notes) != 2 {
		t.Errorf("notes = %q, want one for the exec and one for the init hook", strs(notes))
	}

	// Only the exec hooks are replaced: the spec's exec hook is a note,
	// its init hook still runs.
	delete(pod.Annotations, "init.hook.restore.velero.io/container-image")
	post, init, err = RestoreHooks(pod, spec)
	if err != nil || len(post) != 1 || len(init) != 1 || init[0].Name != "fix-perms" {
		t.Errorf("post = %+v, init = %+v, err = %v", post, init, err)
	}
}

func strs(ps []Problem) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}
