package hook

import (
	"reflect"
	"testing"
	"time"
)

func TestVerifyHook(t *testing.T) {
	tests := []struct {
		name     string
		ann      map[string]string
		want     *Hook
		problems []string
	}{
		{name: "none", ann: map[string]string{"pre.hook.backup.velero.io/command": "sync"}},
		{name: "JSON array, defaults",
			ann: map[string]string{"verify.hook.quiesce.dev/command": `["/bin/sh","-c","test -s /data/payload"]`},
			want: &Hook{Name: "verify-annotation", Phase: Verify, Container: "db", Command: []string{"/bin/sh", "-c", "test -s /data/payload"},
				Timeout: DefaultVerifyTimeout, OnError: Fail, Mode: Exec,
				Source: Source{Kind: "annotation", Ref: "verify.hook.quiesce.dev/command"}}},
		{name: "one word, container and timeout",
			ann: map[string]string{"verify.hook.quiesce.dev/command": "/check", "verify.hook.quiesce.dev/container": "sidecar",
				"verify.hook.quiesce.dev/timeout": "2m"},
			want: &Hook{Name: "verify-annotation", Phase: Verify, Container: "sidecar", Command: []string{"/check"},
				Timeout: 2 * time.Minute, OnError: Fail, Mode: Exec,
				Source: Source{Kind: "annotation", Ref: "verify.hook.quiesce.dev/command"}}},
		{name: "command line without brackets",
			ann:      map[string]string{"verify.hook.quiesce.dev/command": "cat /data/payload"},
			problems: []string{`pod shop/db-0: annotation "verify.hook.quiesce.dev/command"="cat /data/payload": a command without [ ] is ONE argument, it is not split or run by a shell (write it as a JSON array, e.g. ["cat","/data/payload"])`}},
		{name: "bare number timeout, unknown container",
			ann: map[string]string{"verify.hook.quiesce.dev/command": `["true"]`, "verify.hook.quiesce.dev/timeout": "60",
				"verify.hook.quiesce.dev/container": "web"},
			problems: []string{
				`pod shop/db-0: annotation "verify.hook.quiesce.dev/timeout"="60": not a duration (use e.g. "60s")`,
				`pod shop/db-0: annotation "verify.hook.quiesce.dev/container"="web": no such container in the pod (use one of: db, sidecar)`,
			}},
		{name: "typo'd key",
			ann:      map[string]string{"verify.hook.quiesce.dev/command": `["true"]`, "verify.hook.quiesce.dev/timout": "1m"},
			problems: []string{`pod shop/db-0: annotation "verify.hook.quiesce.dev/timout"="1m": unknown hook annotation key (did you mean "verify.hook.quiesce.dev/timeout"?)`}},
		{name: "timeout without command",
			ann:      map[string]string{"verify.hook.quiesce.dev/timeout": "1m"},
			problems: []string{`pod shop/db-0: annotation "verify.hook.quiesce.dev/timeout"="1m": has no effect without a command annotation (add "verify.hook.quiesce.dev/command", or remove this key)`}},
		{name: "velero domain",
			ann:      map[string]string{"verify.hook.velero.io/command": `["true"]`},
			problems: []string{`pod shop/db-0: annotation "verify.hook.velero.io/command"="[\"true\"]": unknown hook annotation prefix (known prefixes: hook.backup.velero.io, init.hook.restore.velero.io, post.hook.backup.velero.io, post.hook.restore.velero.io, pre.hook.backup.velero.io)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VerifyHook(testPod(tt.ann))
			if ps := problemStrings(t, err); !reflect.DeepEqual(ps, tt.problems) {
				t.Fatalf("problems:\n got %q\nwant %q", ps, tt.problems)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("hook:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// The verify keys are known to the other resolutions: a pod with a check
// hook has no problem when its backup or restore hooks are resolved.
func TestVerifyKeysAreKnownToBackupAndRestoreHooks(t *testing.T) {
	pod := testPod(map[string]string{"verify.hook.quiesce.dev/command": `["true"]`, "verify.hook.quiesce.dev/timeout": "5s",
		"verify.hook.quiesce.dev/container": "db"})
	if _, _, err := BackupHooks(pod, nil); err != nil {
		t.Errorf("BackupHooks: %v", err)
	}
	if _, _, err := RestoreHooks(pod, nil); err != nil {
		t.Errorf("RestoreHooks: %v", err)
	}
}
