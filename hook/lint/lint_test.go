package lint

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/hook"
)

func lintFile(t *testing.T, path string) Report {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := Lint(f)
	if err != nil {
		t.Fatalf("lint %s: %v", path, err)
	}
	return rep
}

func reportProblems(r Report) []string {
	if len(r.Problems) == 0 {
		return nil
	}
	out := make([]string, len(r.Problems))
	for i, p := range r.Problems {
		out[i] = p.String()
	}
	return out
}

// summary renders resolved hooks compactly: object [with], then
// "phase name container command timeout onError source" per hook.
func summary(r Report) []string {
	var out []string
	for _, res := range r.Resolved {
		head := res.Object
		if res.With != "" {
			head += " with " + res.With
		}
		out = append(out, head)
		for _, h := range res.Hooks {
			out = append(out, strings.Join([]string{"  " + string(h.Phase), h.Name, h.Container,
				strings.Join(h.Command, " "), h.Timeout.String(), string(h.OnError), h.Source.Ref}, " | "))
		}
		for _, h := range res.Init {
			out = append(out, "  init "+h.Name+" "+h.Container.Image)
		}
	}
	return out
}

func TestLintVeleroNginxExample(t *testing.T) {
	rep := lintFile(t, "testdata/nginx-fsfreeze.yaml")
	if rep.HasErrors() {
		t.Fatalf("problems in Velero's own example: %q", reportProblems(rep))
	}
	want := []string{
		"deployment nginx-example/nginx-deployment",
		"  pre | pre-annotation | fsfreeze | /sbin/fsfreeze --freeze /var/log/nginx | 30s | Fail | pre.hook.backup.velero.io/command",
		"  post | post-annotation | fsfreeze | /sbin/fsfreeze --unfreeze /var/log/nginx | 30s | Fail | post.hook.backup.velero.io/command",
	}
	if got := summary(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("resolved:\n got  %q\n want %q", got, want)
	}
}

func TestLint(t *testing.T) {
	rep := lintFile(t, "testdata/lint.yaml")
	wantProblems := []string{
		`backup velero/nightly: spec.hooks.resources[0].post[0].exec.timout: unknown field (did you mean "timeout"?)`,
		`cronjob shop/report: annotation "pre.hook.backup.velero.io/timeout"="300": not a duration (use e.g. "300s")`,
		`pod shop/api-0: backup velero/nightly spec.hooks.resources[0].post[0].exec.container="web": no such container in the pod (use one of: api)`,
		`schedule velero/hourly: spec.template.hooks.resources[0].pre[0].exec.timeout="45": not a duration (use e.g. "45s")`,
		`statefulset shop/db: spec.template.metadata.annotations["pre.hook.backup.velero.io/container"]: key written 2 times (input lines 15, 17); only the last one counts (Velero reads one hook per phase per pod: list several hooks, in order, in pre.hook.backup.quiesce.dev/hooks or post.hook.backup.quiesce.dev/hooks)`,
		`statefulset shop/db: spec.template.metadata.annotations["pre.hook.backup.velero.io/command"]: key written 2 times (input lines 16, 18); only the last one counts (Velero reads one hook per phase per pod: list several hooks, in order, in pre.hook.backup.quiesce.dev/hooks or post.hook.backup.quiesce.dev/hooks)`,
	}
	if got := reportProblems(rep); !reflect.DeepEqual(got, wantProblems) {
		t.Errorf("problems:\n got  %q\n want %q", got, wantProblems)
	}
	wantResolved := []string{
		// Kubernetes keeps the last of the duplicate keys: only redis is frozen.
		"statefulset shop/db",
		"  pre | pre-annotation | redis | redis-cli bgsave | 30s | Fail | pre.hook.backup.velero.io/command",
		// The hook with the bad timeout is dropped (and reported).
		"cronjob shop/report",
		"deployment shop/web",
		"  pre | flush-cache | cache | redis-cli save | 30s | Fail | pre.hook.backup.quiesce.dev/hooks[0]",
		"  pre | checkpoint | web | /app/checkpoint | 1m0s | Fail | pre.hook.backup.quiesce.dev/hooks[1]",
		"  post | notify-failure | web | /app/alert | 30s | Fail | pre.hook.backup.quiesce.dev/hooks[0]",
		"deployment shop/web with restore velero/from-nightly",
		"  post-restore | reindex/postHooks[0] | web | /app/reindex | 30s | Continue | spec.hooks.resources[0].postHooks[0]",
		"pod shop/api-0",
		"pod shop/api-0 with backup velero/nightly",
		"  pre | uname/pre[0] | api | /bin/uname -a | 10s | Fail | spec.hooks.resources[0].pre[0]",
		"pod shop/api-0 with schedule velero/hourly",
		"  pre | sync-everything/pre[0] | api | sync | 30s | Fail | spec.template.hooks.resources[0].pre[0]",
	}
	wantResolved[6] = strings.Replace(wantResolved[6], "pre.hook", "post.hook", 1)
	if got := summary(rep); !reflect.DeepEqual(got, wantResolved) {
		t.Errorf("resolved:\n got  %q\n want %q", got, wantResolved)
	}
	for _, res := range rep.Resolved {
		for _, h := range res.Hooks {
			if h.Name == "notify-failure" && h.When != hook.OnFailure {
				t.Errorf("notify-failure: when = %q, want OnFailure", h.When)
			}
			if h.Name == "reindex/postHooks[0]" && h.WaitTimeout != 5*time.Minute {
				t.Errorf("reindex: waitTimeout = %v, want 5m", h.WaitTimeout)
			}
		}
	}
}

func TestLintBadInput(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"empty", "", nil},
		{"only comments and separators", "# x\n---\n---\n", nil},
		{"syntax error", "kind: Pod\nmetadata: {name: [\n", []string{
			`input document 1: not valid YAML: yaml: line 2: did not find expected node content (fix the syntax; documents after this one were not read)`}},
		{"annotation value is not a string", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    pre.hook.backup.velero.io/timeout: 30\nspec: {containers: [{name: c}]}\n", []string{
			`pod default/p: metadata: cannot decode: json: cannot unmarshal number into Go struct field ObjectMeta.metadata.annotations of type string (quote the value: annotation values are strings)`}},
		{"restore spec with both exec and init, and a missing image", `
apiVersion: quiesce.dev/v1alpha1
kind: Restore
metadata: {name: r, namespace: q}
spec:
  hooks:
    resources:
    - name: x
      postHooks:
      - exec: {command: [a]}
        init: {initContainers: [{name: i, image: busybox, command: [/bin/true]}]}
      - init: {initContainers: [{name: j}], timeout: -1s}
      - {}
`, []string{
			`restore q/r: spec.hooks.resources[0].postHooks[0]: both exec and init are set (split them into two postHooks entries)`,
			`restore q/r: spec.hooks.resources[0].postHooks[1].init.timeout="-1s": negative duration (use a positive duration, or omit it for no limit)`,
			`restore q/r: spec.hooks.resources[0].postHooks[1].init.initContainers[0].image: empty image (set an image)`,
			`restore q/r: spec.hooks.resources[0].postHooks[1].init.initContainers[0].command: no command (set the command the init container runs; Velero requires one here)`,
			`restore q/r: spec.hooks.resources[0].postHooks[2]: neither exec nor init is set (add exec: {command: [...]} or init: {initContainers: [...]})`,
		}},
		{"non-velero Backup kinds are ignored", "apiVersion: example.com/v1\nkind: Backup\nmetadata: {name: b}\nspec: {hooks: 3}\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Lint(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := reportProblems(rep); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

// A Backup's spec hook that selects a pod whose annotations replace it is
// not a problem (Velero never looks at it), even when it names a container
// the pod does not have: lint notes it and exits clean.
func TestLintReplacedSpecHookIsANote(t *testing.T) {
	in := `
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  annotations:
    pre.hook.backup.velero.io/command: '["/bin/sync"]'
    post.hook.backup.velero.io/command: '["/bin/true"]'
spec: {containers: [{name: db}]}
---
apiVersion: velero.io/v1
kind: Backup
metadata: {name: nightly, namespace: velero}
spec:
  hooks:
    resources:
    - name: web
      pre:
      - exec: {container: web, command: [/app/flush]}
`
	rep, err := Lint(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if rep.HasErrors() {
		t.Errorf("problems: %q", reportProblems(rep))
	}
	want := []string{`pod shop/db-0: backup velero/nightly spec.hooks.resources[0].pre[0]: not run and not checked: the pod's annotation "pre.hook.backup.velero.io/command" replaces the spec hooks of this phase, as in Velero (to run it as well, add it to the pod's hooks annotation instead)`}
	var got []string
	for _, n := range rep.Notes {
		got = append(got, n.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("notes:\n got  %q\n want %q", got, want)
	}
}

// Typos and bad values under backup.quiesce.dev/ are caught by lint, as
// under the hook prefixes, not first at backup time.
func TestLintBackupSettings(t *testing.T) {
	in := `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  template:
    metadata:
      annotations:
        backup.quiesce.dev/grup: shop
        backup.quiesce.dev/ordr: "1"
        backup.quiesce.dev/max-freze: 2m
    spec: {containers: [{name: db}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: cache, namespace: shop}
spec:
  template:
    metadata:
      annotations:
        backup.quiesce.dev/group: shop
        backup.quiesce.dev/order: abc
        backup.quiesce.dev/max-freeze: "300"
    spec: {containers: [{name: redis}]}
`
	rep, err := Lint(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`statefulset shop/cache: annotation "backup.quiesce.dev/order"="abc": not an integer (use e.g. "1"; lower orders freeze first)`,
		`statefulset shop/cache: annotation "backup.quiesce.dev/max-freeze"="300": not a duration (use e.g. "300s")`,
		`statefulset shop/db: annotation "backup.quiesce.dev/grup"="shop": unknown annotation key (did you mean "backup.quiesce.dev/group"?)`,
		`statefulset shop/db: annotation "backup.quiesce.dev/max-freze"="2m": unknown annotation key (did you mean "backup.quiesce.dev/max-freeze"?)`,
		`statefulset shop/db: annotation "backup.quiesce.dev/ordr"="1": unknown annotation key (did you mean "backup.quiesce.dev/order"?)`,
	}
	if got := reportProblems(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got  %q\n want %q", got, want)
	}
}

// Values that parse but could never work are lint problems too.
func TestLintUnusableValues(t *testing.T) {
	in := `
apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  annotations:
    pre.hook.backup.quiesce.dev/command: sync
    pre.hook.backup.quiesce.dev/retries: "1000000000"
spec: {containers: [{name: db}]}
---
apiVersion: velero.io/v1
kind: Restore
metadata: {name: r1, namespace: velero}
spec:
  hooks:
    resources:
    - name: perms
      postHooks:
      - init: {initContainers: [{name: Fix_Perms, image: busybox, command: [chown, "1000", /data]}]}
`
	rep, err := Lint(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/retries"="1000000000": more than 10 retries (use at most 10: each attempt may run for the hook's timeout while the application waits)`,
		`restore velero/r1: spec.hooks.resources[0].postHooks[0].init.initContainers[0].name="Fix_Perms": not a valid container name: the API server would refuse the restored pod (use a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters (e.g. "restore-init"))`,
	}
	if got := reportProblems(rep); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got  %q\n want %q", got, want)
	}
}

// Lint reads spec.hooks.backup of Backups and spec.template.hooks.backup of
// Schedules: unknown fields and unit-less timeouts at their path.
func TestLintBackupLevelHooks(t *testing.T) {
	rep, err := Lint(strings.NewReader(`
apiVersion: velero.io/v1
kind: Schedule
metadata: {name: nightly, namespace: velero}
spec:
  template:
    hooks:
      backup:
        pre:
          - namespace: shop
            labelSelector: {matchLabels: {app: db}}
            command: [sync]
            timout: 30s
        post:
          - namespace: shop
            labelSelector: {matchLabels: {app: db}}
            command: [sync]
            timeout: "300"
        around: []
`))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(reportProblems(rep), "\n")
	for _, w := range []string{
		`spec.template.hooks.backup.pre[0].timout: unknown field (did you mean "timeout"?)`,
		`spec.template.hooks.backup.post[0].timeout="300": not a duration (use e.g. "300s")`,
		`spec.template.hooks.backup.around: unknown field`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("lint lacks %q:\n%s", w, got)
		}
	}
}

// A seed-style recipe is valid (no problem) and warned about, with the fix.
func TestLintWarnsOfKnownBrokenRecipes(t *testing.T) {
	rep, err := Lint(strings.NewReader(`
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop}
spec:
  template:
    metadata:
      annotations:
        pre.hook.backup.velero.io/command: '["/bin/bash", "-c", "psql -c \"SELECT pg_start_backup(''velero'', true)\""]'
        post.hook.backup.velero.io/command: '["/bin/bash", "-c", "psql -c \"SELECT pg_stop_backup()\""]'
    spec:
      containers: [{name: db, image: postgres}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if rep.HasErrors() || len(rep.Warnings) != 2 {
		t.Fatalf("problems %v, warnings %v: want none and two", rep.Problems, rep.Warnings)
	}
	if w := rep.Warnings[0].String(); !strings.Contains(w, "statefulset shop/db") || !strings.Contains(w, "pg_backup_start") {
		t.Errorf("warning %q: want the object and the fix", w)
	}
}

// lint resolves a template's check hook (verify.hook.quiesce.dev/*) with
// its other hooks and reports its problems.
func TestLintVerifyHook(t *testing.T) {
	in := `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata:
      annotations:
        verify.hook.quiesce.dev/command: '["/bin/sh","-c","test -s /data/payload"]'
        verify.hook.quiesce.dev/timeout: 10s
    spec: {containers: [{name: web}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  template:
    metadata:
      annotations:
        verify.hook.quiesce.dev/command: pg_isready -h localhost
        verify.hook.quiesce.dev/timeout: "30"
        verify.hook.quiesce.dev/contianer: db
    spec: {containers: [{name: db}]}
`
	rep, err := Lint(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	wantProblems := []string{
		`deployment shop/db: annotation "verify.hook.quiesce.dev/contianer"="db": unknown hook annotation key (did you mean "verify.hook.quiesce.dev/container"?)`,
		`deployment shop/db: annotation "verify.hook.quiesce.dev/command"="pg_isready -h localhost": a command without [ ] is ONE argument, it is not split or run by a shell (write it as a JSON array, e.g. ["pg_isready","-h","localhost"])`,
		`deployment shop/db: annotation "verify.hook.quiesce.dev/timeout"="30": not a duration (use e.g. "30s")`,
	}
	if got := reportProblems(rep); !reflect.DeepEqual(got, wantProblems) {
		t.Errorf("problems:\n got  %q\n want %q", got, wantProblems)
	}
	wantSummary := []string{
		"deployment shop/web",
		"  verify | verify-annotation | web | /bin/sh -c test -s /data/payload | 10s | Fail | verify.hook.quiesce.dev/command",
		"deployment shop/db",
	}
	if got := summary(rep); !reflect.DeepEqual(got, wantSummary) {
		t.Errorf("resolved:\n got  %q\n want %q", got, wantSummary)
	}
}

// The job form's fields are known at their path, down into its pod
// template (schemaless in the CRD, so lint is what reports a typo there),
// and the hook is still validated as the coordinator sees it.
func TestLintBackupLevelJobHook(t *testing.T) {
	rep, err := Lint(strings.NewReader(`
apiVersion: quiesce.dev/v1alpha1
kind: Backup
metadata: {name: b1, namespace: quiesce}
spec:
  hooks:
    backup:
      pre:
        - name: api-snapshot
          namespace: ops
          job:
            backofLimit: 2
            template:
              spec:
                contaners: [{name: cli, image: ops/cli}]
                restartPolicy: Always
        - name: notify
          namespace: ops
          job:
            template:
              metdata: {}
              spec: {containers: [{name: c, image: curl}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(reportProblems(rep), "\n")
	for _, w := range []string{
		`backup quiesce/b1: spec.hooks.backup.pre[0].job.backofLimit: unknown field (did you mean "backoffLimit"?)`,
		`backup quiesce/b1: spec.hooks.backup.pre[0].job.template: cannot decode as a pod template: unknown field "contaners"`,
		`backup quiesce/b1: spec.hooks.backup.pre[0].job.template.spec.containers: no containers`,
		`backup quiesce/b1: spec.hooks.backup.pre[0].job.template.spec.restartPolicy="Always": a Job's pods cannot restart Always`,
		`backup quiesce/b1: spec.hooks.backup.pre[1].job.template.metdata: unknown field (did you mean "metadata"?)`,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("lint lacks %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "spec.hooks: cannot decode") {
		t.Errorf("a problem reported at its path is reported again at spec.hooks:\n%s", got)
	}
}
