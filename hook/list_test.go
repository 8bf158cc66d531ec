package hook

import (
	"reflect"
	"testing"
	"time"
)

func TestListAnnotation(t *testing.T) {
	tests := []struct {
		name      string
		ann       map[string]string
		pre, post []Hook
		problems  []string
	}{
		{
			name: "YAML list in order, across containers, with hold and when",
			ann: map[string]string{
				"pre.hook.backup.quiesce.dev/hooks": `
- name: pg-backup-mode
  container: db
  command: [psql, -c, "select pg_backup_start('quiesce')", -c, '\echo frozen', -f, "-"]
  mode: Hold
  hold: {readyLine: frozen, readyTimeout: 20s, releaseInput: "select pg_backup_stop();\n"}
- container: sidecar
  command: ["/bin/sync"]
  timeout: 5s
  onError: Continue
  retries: 2
`,
				"post.hook.backup.quiesce.dev/hooks": `[{"name":"notify-ok","command":["notify","ok"],"when":"OnSuccess"},{"command":["notify","failed"],"when":"OnFailure","container":"sidecar"}]`,
			},
			pre: []Hook{
				{Name: "pg-backup-mode", Phase: PreBackup, Source: Source{Kind: "annotation", Ref: "pre.hook.backup.quiesce.dev/hooks[0]"},
					Container: "db", Command: []string{"psql", "-c", "select pg_backup_start('quiesce')", "-c", `\echo frozen`, "-f", "-"},
					Timeout: DefaultTimeout, OnError: Fail, Mode: Hold,
					Hold: &HoldSpec{ReadyLine: "frozen", ReadyTimeout: 20 * time.Second, ReleaseInput: "select pg_backup_stop();\n", ReleaseTimeout: DefaultTimeout}},
				{Name: "pre[1]", Phase: PreBackup, Source: Source{Kind: "annotation", Ref: "pre.hook.backup.quiesce.dev/hooks[1]"},
					Container: "sidecar", Command: []string{"/bin/sync"}, Timeout: 5 * time.Second, OnError: Continue, Retries: 2, Mode: Exec},
			},
			post: []Hook{
				{Name: "notify-ok", Phase: PostBackup, Source: Source{Kind: "annotation", Ref: "post.hook.backup.quiesce.dev/hooks[0]"},
					Container: "db", Command: []string{"notify", "ok"}, Timeout: DefaultTimeout, OnError: Fail, When: OnSuccess, Mode: Exec},
				{Name: "post[1]", Phase: PostBackup, Source: Source{Kind: "annotation", Ref: "post.hook.backup.quiesce.dev/hooks[1]"},
					Container: "sidecar", Command: []string{"notify", "failed"}, Timeout: DefaultTimeout, OnError: Fail, When: OnFailure, Mode: Exec},
			},
		},
		{
			name: "list under quiesce wins over velero single keys, which stay for Velero",
			ann: map[string]string{
				"pre.hook.backup.velero.io/command": `["velero-only"]`,
				"pre.hook.backup.quiesce.dev/hooks": `[{"command":["ours"]}]`,
			},
			pre: []Hook{{Name: "pre[0]", Phase: PreBackup, Source: Source{Kind: "annotation", Ref: "pre.hook.backup.quiesce.dev/hooks[0]"},
				Container: "db", Command: []string{"ours"}, Timeout: DefaultTimeout, OnError: Fail, Mode: Exec}},
		},
		{
			name: "bad entries: every problem, with its path",
			ann: map[string]string{
				"pre.hook.backup.quiesce.dev/hooks": `
- command: "sync now"
- command: [sync]
  timeout: 300
  when: OnSuccess
- command: [sync]
  comand: [x]
  container: nope
- name: a
  command: [sync]
  hold: {readyLine: x}
- name: a
  command: []
  onError: Abort
  retries: -1
`,
			},
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/hooks"[0].command="\"sync now\"": not a list of strings (write it as ["/bin/sh","-c","..."]: a list is never split or run by a shell)`,
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/hooks"[1].timeout="300": not a duration (use e.g. "300s")`,
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/hooks"[1].when: when is not valid on pre-backup hooks (it is valid on post-backup hooks only)`,
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/hooks"[2].comand: unknown field (did you mean "command"?)`,
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/hooks"[2].container="nope": no such container in the pod (use one of: db, sidecar)`,
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/hooks"[3].hold: hold settings need mode Hold (set mode to "Hold", or remove them)`,
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/hooks"[4].command: empty command (set a command such as ["/bin/sh","-c","sync"])`,
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/hooks"[4].name="a": name already used by entry [3] (give each hook its own name)`,
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/hooks"[4].onError="Abort": unknown on-error value (use "Fail" or "Continue")`,
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/hooks"[4].retries="-1": not a non-negative integer (use e.g. 2)`,
			},
		},
		{
			name: "not a list",
			ann:  map[string]string{"post.hook.backup.quiesce.dev/hooks": `{command: [sync]}`},
			problems: []string{
				`pod shop/db-0: annotation "post.hook.backup.quiesce.dev/hooks"="{command: [sync]}": not a YAML or JSON list of hooks: json: cannot unmarshal object into Go value of type []json.RawMessage (write e.g. [{"container":"db","command":["/bin/sh","-c","sync"]}])`,
			},
		},
		{
			name: "single keys under our prefix next to our list are reported",
			ann: map[string]string{
				"post.hook.backup.quiesce.dev/hooks":   `[]`,
				"post.hook.backup.quiesce.dev/timeout": "10s",
			},
			problems: []string{
				`pod shop/db-0: annotation "post.hook.backup.quiesce.dev/timeout"="10s": ignored: "post.hook.backup.quiesce.dev/hooks" lists this phase's hooks (move this setting into an entry of the list, or remove it)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pre, post, err := BackupHooks(testPod(tt.ann), nil)
			if got := problemStrings(t, err); !reflect.DeepEqual(got, tt.problems) {
				t.Errorf("problems:\n got  %q\n want %q", got, tt.problems)
			}
			if !reflect.DeepEqual(pre, tt.pre) {
				t.Errorf("pre:\n got  %+v\n want %+v", pre, tt.pre)
			}
			if !reflect.DeepEqual(post, tt.post) {
				t.Errorf("post:\n got  %+v\n want %+v", post, tt.post)
			}
		})
	}
}
