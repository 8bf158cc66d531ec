package hook

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

const backupLevelExample = `
backup:
  pre:
    - name: announce
      namespace: shop
      labelSelector: {matchLabels: {app: db}}
      container: db
      command: [/bin/sh, -c, "echo start"]
      timeout: 1m
  post:
    - namespace: shop
      labelSelector: {matchLabels: {app: db}}
      command: [/bin/sh, -c, "echo done"]
      onError: Continue
      when: OnFailure
`

func TestBackupLevelHooksDefaults(t *testing.T) {
	pre, post, err := BackupLevelHooks("backup velero/b", backupSpec(t, backupLevelExample))
	if err != nil {
		t.Fatal(err)
	}
	if len(pre) != 1 || len(post) != 1 {
		t.Fatalf("pre %v post %v", pre, post)
	}
	p := pre[0]
	if p.Name != "announce" || p.Phase != PreBackup || p.Namespace != "shop" || p.Container != "db" ||
		p.Timeout != time.Minute || p.OnError != Fail || p.When != "" || p.Source.Ref != "spec.hooks.backup.pre[0]" ||
		p.Selector.String() != "app=db" || !reflect.DeepEqual(p.Command, []string{"/bin/sh", "-c", "echo start"}) {
		t.Errorf("pre = %+v", p)
	}
	q := post[0]
	if q.Name != "post[0]" || q.Phase != PostBackup || q.Container != "" || q.Timeout != DefaultTimeout ||
		q.OnError != Continue || q.When != OnFailure {
		t.Errorf("post = %+v", q)
	}
	if err := ValidateBackupHooks("backup velero/b", backupSpec(t, backupLevelExample)); err != nil {
		t.Errorf("ValidateBackupHooks: %v", err)
	}
}

// Every problem names the Backup, the field path and the fix, and
// ValidateBackupHooks (what the coordinator checks before anything runs)
// reports them all.
func TestBackupLevelHooksProblems(t *testing.T) {
	spec := backupSpec(t, `
backup:
  pre:
    - name: a
      namespace: shop
      labelSelector: {matchLabels: {app: db}}
      command: [sync]
      timeout: -1s
      when: Always
    - name: a
      namespace: Shop_1
      command: []
      onError: fail
  post:
    - namespace: shop
      labelSelector: {matchExpressions: [{key: app, operator: Bogus}]}
      command: [sync]
      when: Sometimes
`)
	err := ValidateBackupHooks("backup velero/b", spec)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`backup velero/b: spec.hooks.backup.pre[0].timeout="-1s": negative duration (use a positive duration such as "30s", or omit it for 30s)`,
		`backup velero/b: spec.hooks.backup.pre[0].when="Always": when is only valid on post hooks`,
		`backup velero/b: spec.hooks.backup.pre[1].name="a": duplicate name (also spec.hooks.backup.pre[0])`,
		`backup velero/b: spec.hooks.backup.pre[1].namespace="Shop_1": not a namespace name`,
		`backup velero/b: spec.hooks.backup.pre[1].labelSelector: no labelSelector (add labelSelector`,
		`backup velero/b: spec.hooks.backup.pre[1].command: empty command`,
		`backup velero/b: spec.hooks.backup.pre[1].onError="fail": unknown on-error value (values are case-sensitive`,
		`backup velero/b: spec.hooks.backup.post[0].labelSelector: invalid label selector`,
		`backup velero/b: spec.hooks.backup.post[0].when="Sometimes": unknown when value`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if n := len(err.(*ValidationError).Problems); n != len(want) {
		t.Errorf("%d problems, want %d: %v", n, len(want), err)
	}
	if pre, post, err := BackupLevelHooks("backup velero/b", spec); err == nil || pre != nil || post != nil {
		t.Errorf("BackupLevelHooks = %v, %v, %v: want only the error", pre, post, err)
	}
}
