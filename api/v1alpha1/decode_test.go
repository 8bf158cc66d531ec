package v1alpha1

import (
	"strings"
	"testing"
	"time"
)

// A Backup manifest as Velero's documentation writes it.
const veleroBackup = `
apiVersion: velero.io/v1
kind: Backup
metadata:
  name: nginx-backup
  namespace: velero
spec:
  includedNamespaces: [nginx-example]
  storageLocation: default
  snapshotVolumes: false
  defaultVolumesToFsBackup: true
  ttl: 720h0m0s
  labelSelector:
    matchLabels: {app: nginx}
  hooks:
    resources:
      - name: fsfreeze
        includedNamespaces: [nginx-example]
        labelSelector:
          matchLabels: {app: nginx}
        pre:
          - exec:
              container: fsfreeze
              command: [/sbin/fsfreeze, --freeze, /var/log/nginx]
              onError: Fail
              timeout: 30s
        post:
          - exec:
              container: fsfreeze
              command: [/sbin/fsfreeze, --unfreeze, /var/log/nginx]
status:
  phase: Completed
`

func TestDecodeVeleroBackup(t *testing.T) {
	b, err := DecodeBackup([]byte(veleroBackup))
	if err != nil {
		t.Fatal(err)
	}
	if b.APIVersion != "quiesce.dev/v1alpha1" || b.Kind != "Backup" || b.Name != "nginx-backup" {
		t.Errorf("meta = %s %s %s", b.APIVersion, b.Kind, b.Name)
	}
	if b.Status.Phase != "" {
		t.Errorf("status must not be carried over: %+v", b.Status)
	}
	if b.Spec.TTL.Duration != 720*time.Hour || !*b.Spec.DefaultVolumesToFsBackup || b.Spec.LabelSelector.MatchLabels["app"] != "nginx" {
		t.Errorf("spec = %+v", b.Spec)
	}
	h := b.Spec.Hooks.Resources[0]
	if h.Name != "fsfreeze" || len(h.PreHooks) != 1 || h.PreHooks[0].Exec.Command[1] != "--freeze" ||
		h.PreHooks[0].Exec.Timeout.Duration != 30*time.Second || h.PostHooks[0].Exec.Container != "fsfreeze" {
		t.Errorf("hooks = %+v", h)
	}
}

func TestDecodeSchedule(t *testing.T) {
	b, err := DecodeBackup([]byte(`
apiVersion: velero.io/v1
kind: Schedule
metadata: {name: daily, namespace: velero}
spec:
  schedule: "0 1 * * *"
  template:
    includedNamespaces: [shop]
    ttl: 24h
`))
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "daily" || b.Spec.IncludedNamespaces[0] != "shop" || b.Spec.TTL.Duration != 24*time.Hour {
		t.Errorf("backup from schedule = %+v", b)
	}
}

func TestDecodeRejects(t *testing.T) {
	for in, want := range map[string]string{
		"apiVersion: v1\nkind: Pod\n":                         `apiVersion "v1"`,
		"apiVersion: velero.io/v1\nkind: Restore\n":           `kind "Restore"`,
		"apiVersion: velero.io/v1\nkind: Backup\nspec: [1]\n": "backup manifest",
	} {
		if _, err := DecodeBackup([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeBackup(%q) = %v, want error with %q", in, err, want)
		}
	}
}

// A Schedule's template carries the backup-level hooks into its Backups,
// and DeepCopy copies them.
func TestDecodeScheduleBackupLevelHooks(t *testing.T) {
	b, err := DecodeBackup([]byte(`
apiVersion: velero.io/v1
kind: Schedule
metadata: {name: nightly, namespace: velero}
spec:
  schedule: "0 2 * * *"
  template:
    includedNamespaces: [shop]
    hooks:
      backup:
        pre:
          - {name: announce, namespace: shop, labelSelector: {matchLabels: {app: db}}, command: [/bin/sh, -c, "echo start"], timeout: 1m}
        post:
          - {namespace: shop, labelSelector: {matchLabels: {app: db}}, command: [/bin/true], when: OnFailure, onError: Continue}
          - name: notify
            namespace: ops
            job:
              backoffLimit: 2
              template:
                spec:
                  containers: [{name: notify, image: curl, args: [https://example.com/done]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	h := b.Spec.Hooks.Backup
	if h == nil || len(h.Pre) != 1 || len(h.Post) != 2 || h.Pre[0].Name != "announce" || h.Pre[0].Timeout.Duration != time.Minute ||
		h.Pre[0].LabelSelector.MatchLabels["app"] != "db" || h.Post[0].When != "OnFailure" || h.Post[0].OnError != HookErrorModeContinue {
		t.Fatalf("backup hooks = %+v", h)
	}
	cp := b.DeepCopy()
	cp.Spec.Hooks.Backup.Pre[0].Command[0] = "changed"
	cp.Spec.Hooks.Backup.Pre[0].LabelSelector.MatchLabels["app"] = "changed"
	if h.Pre[0].Command[0] != "/bin/sh" || h.Pre[0].LabelSelector.MatchLabels["app"] != "db" {
		t.Errorf("DeepCopy shares the backup-level hooks: %+v", h.Pre[0])
	}
	j := h.Post[1].Job
	if j == nil || *j.BackoffLimit != 2 || j.Template.Spec.Containers[0].Image != "curl" {
		t.Fatalf("job hook = %+v", h.Post[1])
	}
	*cp.Spec.Hooks.Backup.Post[1].Job.BackoffLimit = 9
	cp.Spec.Hooks.Backup.Post[1].Job.Template.Spec.Containers[0].Args[0] = "changed"
	if *j.BackoffLimit != 2 || j.Template.Spec.Containers[0].Args[0] != "https://example.com/done" {
		t.Errorf("DeepCopy shares the job hook: %+v", j)
	}
}
