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

// The job form resolves to the template (restartPolicy Never by default)
// and its retries, with the shared timeout, onError and when.
func TestBackupLevelJobHook(t *testing.T) {
	pre, post, err := BackupLevelHooks("backup velero/b", backupSpec(t, `
backup:
  pre:
    - name: snapshot-api
      namespace: ops
      timeout: 2m
      job:
        template:
          metadata: {labels: {team: ops}}
          spec:
            serviceAccountName: snapshotter
            containers: [{name: cli, image: ops/cli:1, args: [snapshot, create]}]
  post:
    - namespace: ops
      onError: Continue
      when: OnSuccess
      job:
        backoffLimit: 3
        template:
          spec:
            restartPolicy: OnFailure
            containers: [{name: notify, image: curl}]
`))
	if err != nil {
		t.Fatal(err)
	}
	p, q := pre[0], post[0]
	if p.Job == nil || p.Selector != nil || p.Command != nil || p.Namespace != "ops" || p.Timeout != 2*time.Minute ||
		p.Job.BackoffLimit != 0 || p.Job.Template.Spec.RestartPolicy != "Never" || p.Job.Template.Labels["team"] != "ops" ||
		p.Job.Template.Spec.ServiceAccountName != "snapshotter" || p.Source.Ref != "spec.hooks.backup.pre[0]" {
		t.Errorf("pre = %+v job %+v", p, p.Job)
	}
	if q.Job == nil || q.Job.BackoffLimit != 3 || q.Job.Template.Spec.RestartPolicy != "OnFailure" ||
		q.OnError != Continue || q.When != OnSuccess || q.Timeout != DefaultTimeout {
		t.Errorf("post = %+v job %+v", q, q.Job)
	}
}

// A hook sets exactly one form; a job's template must be one a Job can
// run. Each problem names the Backup, the field path and the fix.
func TestBackupLevelJobHookProblems(t *testing.T) {
	spec := backupSpec(t, `
backup:
  pre:
    - name: both
      namespace: ops
      command: [sync]
      labelSelector: {matchLabels: {app: db}}
      job: {template: {spec: {containers: [{name: c, image: busybox}]}}}
    - name: neither
      namespace: ops
    - name: empty
      namespace: ops
      job: {template: {spec: {containers: []}}}
  post:
    - name: always
      namespace: ops
      job:
        backoffLimit: 11
        template: {spec: {restartPolicy: Always, containers: [{name: c}]}}
`)
	err := ValidateBackupHooks("backup velero/b", spec)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`backup velero/b: spec.hooks.backup.pre[0].job: both a job and an exec (command, labelSelector, container) (a hook runs either a command in a Running pod or a Job`,
		`backup velero/b: spec.hooks.backup.pre[1].job: neither a job nor a command (set command and labelSelector to exec in a Running pod, or job: {template: ...} to run a Job)`,
		`backup velero/b: spec.hooks.backup.pre[2].job.template.spec.containers: no containers (add the container`,
		`backup velero/b: spec.hooks.backup.post[0].job.template.spec.containers[0].image: no image`,
		`backup velero/b: spec.hooks.backup.post[0].job.template.spec.restartPolicy="Always": a Job's pods cannot restart Always (use Never (the default) or OnFailure`,
		`backup velero/b: spec.hooks.backup.post[0].job.backoffLimit="11": out of range 0 to 10`,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if n := len(err.(*ValidationError).Problems); n != len(want) {
		t.Errorf("%d problems, want %d: %v", n, len(want), err)
	}
}
