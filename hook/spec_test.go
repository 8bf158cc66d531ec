package hook

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// veleroSpecExample is the spec hooks example of Velero's Backup API type
// documentation.
const veleroSpecExample = `
resources:
- name: my-hook
  includedNamespaces:
  - '*'
  excludedNamespaces:
  - some-namespace
  includedResources:
  - pods
  excludedResources: []
  labelSelector:
    matchLabels:
      app: velero
      component: server
  pre:
  - exec:
      container: my-container
      command:
      - /bin/uname
      - -a
      onError: Fail
      timeout: 10s
  post:
  - exec:
      container: my-container
      command:
      - /bin/uname
      - -a
      onError: Fail
      timeout: 10s
`

func backupSpec(t *testing.T, y string) *v1alpha1.BackupHooks {
	t.Helper()
	var s v1alpha1.BackupHooks
	if err := yaml.UnmarshalStrict([]byte(y), &s); err != nil {
		t.Fatalf("spec: %v", err)
	}
	return &s
}

func restoreSpec(t *testing.T, y string) *v1alpha1.RestoreHooks {
	t.Helper()
	var s v1alpha1.RestoreHooks
	if err := yaml.UnmarshalStrict([]byte(y), &s); err != nil {
		t.Fatalf("spec: %v", err)
	}
	return &s
}

func podIn(ns string, labels map[string]string, ann map[string]string, containers ...string) *corev1.Pod {
	p := testPod(ann, containers...)
	p.Namespace, p.Labels = ns, labels
	return p
}

func TestBackupSpecHooks(t *testing.T) {
	uname := func(name, phase string, ph Phase) Hook {
		h := Hook{Name: "my-hook/" + phase + "[0]", Phase: ph, Source: Source{Kind: "spec", Ref: "spec.hooks.resources[0]." + phase + "[0]"},
			Container: "my-container", Command: []string{"/bin/uname", "-a"}, Timeout: 10 * time.Second, OnError: Fail, Mode: Exec}
		if ph == PostBackup {
			h.When = Always
		}
		return h
	}
	server := map[string]string{"app": "velero", "component": "server"}
	tests := []struct {
		name      string
		pod       *corev1.Pod
		spec      string
		pre, post []Hook
		problems  []string
	}{
		{
			name: "velero docs example matches",
			pod:  podIn("velero", server, nil, "my-container"),
			spec: veleroSpecExample,
			pre:  []Hook{uname("my-hook", "pre", PreBackup)},
			post: []Hook{uname("my-hook", "post", PostBackup)},
		},
		{
			name: "excluded namespace",
			pod:  podIn("some-namespace", server, nil, "my-container"),
			spec: veleroSpecExample,
		},
		{
			name: "labels do not match",
			pod:  podIn("velero", map[string]string{"app": "velero"}, nil, "my-container"),
			spec: veleroSpecExample,
		},
		{
			name: "annotation replaces spec hooks for its phase only",
			pod: podIn("velero", server, map[string]string{"pre.hook.backup.velero.io/command": `["fsfreeze","-f","/data"]`},
				"my-container"),
			spec: veleroSpecExample,
			pre: []Hook{{Name: "pre-annotation", Phase: PreBackup, Source: Source{Kind: "annotation", Ref: "pre.hook.backup.velero.io/command"},
				Container: "my-container", Command: []string{"fsfreeze", "-f", "/data"}, Timeout: DefaultTimeout, OnError: Fail, Mode: Exec}},
			post: []Hook{uname("my-hook", "post", PostBackup)},
		},
		{
			name: "an empty list annotation opts the pod out of spec hooks",
			pod:  podIn("velero", server, map[string]string{"post.hook.backup.quiesce.dev/hooks": "[]"}, "my-container"),
			spec: veleroSpecExample,
			pre:  []Hook{uname("my-hook", "pre", PreBackup)},
		},
		{
			name: "hooks of all matching entries in order; defaults; resource filters; globs",
			pod:  podIn("team-a", map[string]string{"tier": "db"}, nil, "db", "sidecar"),
			spec: `
resources:
- name: first
  includedNamespaces: ["team-*"]
  pre:
  - exec: {command: [a]}
  - exec: {command: [b], container: sidecar, onError: Continue}
- name: not-pods
  includedResources: [deployments]
  pre:
  - exec: {command: [never]}
- name: pods-excluded
  excludedResources: [pod]
  pre:
  - exec: {command: [never]}
- name: third
  includedResources: ["*"]
  labelSelector: {matchExpressions: [{key: tier, operator: In, values: [db]}]}
  pre:
  - exec: {command: [c], timeout: 1m}
`,
			pre: []Hook{
				{Name: "first/pre[0]", Phase: PreBackup, Source: Source{Kind: "spec", Ref: "spec.hooks.resources[0].pre[0]"},
					Container: "db", Command: []string{"a"}, Timeout: DefaultTimeout, OnError: Fail, Mode: Exec},
				{Name: "first/pre[1]", Phase: PreBackup, Source: Source{Kind: "spec", Ref: "spec.hooks.resources[0].pre[1]"},
					Container: "sidecar", Command: []string{"b"}, Timeout: DefaultTimeout, OnError: Continue, Mode: Exec},
				{Name: "third/pre[0]", Phase: PreBackup, Source: Source{Kind: "spec", Ref: "spec.hooks.resources[3].pre[0]"},
					Container: "db", Command: []string{"c"}, Timeout: time.Minute, OnError: Fail, Mode: Exec},
			},
		},
		{
			name: "problems of the entries that select the pod, and of selectors",
			pod:  podIn("shop", nil, nil, "db"),
			spec: problemSpec,
			problems: []string{
				`pod shop/db-0: spec.hooks.resources[0].excludedNamespaces[0]="*": "*" excludes every namespace (remove the entry, or drop the whole hooks entry)`,
				`pod shop/db-0: spec.hooks.resources[0].labelSelector: invalid label selector: values: Invalid value: ["x"]: values set must be empty for exists and does not exist (fix the selector's keys, operators and values)`,
				`pod shop/db-0: spec.hooks.resources[1].pre[0].exec.command: empty command (set a command such as ["/bin/sh","-c","sync"])`,
				`pod shop/db-0: spec.hooks.resources[1].pre[1].exec: missing exec (add exec: {command: [...]})`,
				`pod shop/db-0: spec.hooks.resources[3].pre[0].exec.container="dbb": no such container in the pod (use one of: db)`,
				`pod shop/db-0: spec.hooks.resources[1].post[0].exec.onError="Retry": unknown on-error value (use "Fail" or "Continue")`,
				`pod shop/db-0: spec.hooks.resources[1].post[0].exec.timeout="-1s": negative duration (use a positive duration such as "30s")`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pre, post, err := BackupHooks(tt.pod, backupSpec(t, tt.spec))
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

const problemSpec = `
resources:
- name: bad-selector
  excludedNamespaces: ["*"]
  labelSelector: {matchExpressions: [{key: tier, operator: Exists, values: [x]}]}
- name: bad
  pre:
  - exec: {command: []}
  - {}
  post:
  - exec: {command: [x], onError: Retry, timeout: -1s}
- name: other-ns
  includedNamespaces: [web]
  pre:
  - exec: {command: [x], container: web, timeout: -5s}
- name: here
  pre:
  - exec: {command: [x], container: dbb}
`

// ValidateBackupHooks checks every entry, including those that select no
// pod at hand, and cannot check containers.
func TestValidateBackupHooks(t *testing.T) {
	err := ValidateBackupHooks("backup velero/b", backupSpec(t, problemSpec))
	want := []string{
		`backup velero/b: spec.hooks.resources[0].excludedNamespaces[0]="*": "*" excludes every namespace (remove the entry, or drop the whole hooks entry)`,
		`backup velero/b: spec.hooks.resources[0].labelSelector: invalid label selector: values: Invalid value: ["x"]: values set must be empty for exists and does not exist (fix the selector's keys, operators and values)`,
		`backup velero/b: spec.hooks.resources[1].pre[0].exec.command: empty command (set a command such as ["/bin/sh","-c","sync"])`,
		`backup velero/b: spec.hooks.resources[1].pre[1].exec: missing exec (add exec: {command: [...]})`,
		`backup velero/b: spec.hooks.resources[2].pre[0].exec.timeout="-5s": negative duration (use a positive duration such as "30s")`,
		`backup velero/b: spec.hooks.resources[1].post[0].exec.onError="Retry": unknown on-error value (use "Fail" or "Continue")`,
		`backup velero/b: spec.hooks.resources[1].post[0].exec.timeout="-1s": negative duration (use a positive duration such as "30s")`,
	}
	if got := problemStrings(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got  %q\n want %q", got, want)
	}
	if err := ValidateBackupHooks("backup velero/ok", backupSpec(t, veleroSpecExample)); err != nil {
		t.Errorf("Velero's example: %v", err)
	}
	if err := ValidateRestoreHooks("restore velero/r", restoreSpec(t, "resources: [{name: x, postHooks: [{exec: {command: []}}]}]")); err == nil {
		t.Error("restore spec with an empty command validated")
	}
}

func TestRestoreHooks(t *testing.T) {
	// Velero's restore hooks documentation: annotations and spec examples.
	tests := []struct {
		name     string
		pod      *corev1.Pod
		spec     string
		post     []Hook
		init     []InitHook
		problems []string
	}{
		{
			name: "velero docs exec annotation example",
			pod: podIn("shop", nil, map[string]string{
				"post.hook.restore.velero.io/container":      "postgres",
				"post.hook.restore.velero.io/command":        `["/bin/bash", "-c", "psql < /backup/backup.sql"]`,
				"post.hook.restore.velero.io/wait-timeout":   "5m",
				"post.hook.restore.velero.io/exec-timeout":   "45s",
				"post.hook.restore.velero.io/on-error":       "Continue",
				"post.hook.restore.velero.io/wait-for-ready": "true",
			}, "postgres", "sidecar"),
			post: []Hook{{Name: "post-restore-annotation", Phase: PostRestore,
				Source: Source{Kind: "annotation", Ref: "post.hook.restore.velero.io/command"}, Container: "postgres",
				Command: []string{"/bin/bash", "-c", "psql < /backup/backup.sql"}, Timeout: 45 * time.Second, OnError: Continue,
				Mode: Exec, WaitTimeout: 5 * time.Minute, WaitForReady: true}},
		},
		{
			name: "velero docs init annotation example; restore on-error defaults to Continue",
			pod: podIn("shop", nil, map[string]string{
				"init.hook.restore.velero.io/container-name":  "restore-hook",
				"init.hook.restore.velero.io/container-image": "alpine:latest",
				"init.hook.restore.velero.io/command":         `["/bin/ash", "-c", "date"]`,
				"post.hook.restore.quiesce.dev/command":       `["true"]`,
			}, "app"),
			post: []Hook{{Name: "post-restore-annotation", Phase: PostRestore,
				Source: Source{Kind: "annotation", Ref: "post.hook.restore.quiesce.dev/command"}, Container: "app",
				Command: []string{"true"}, Timeout: DefaultTimeout, OnError: Continue, Mode: Exec}},
			init: []InitHook{{Name: "init-restore-annotation", Source: Source{Kind: "annotation", Ref: "init.hook.restore.velero.io/container-image"},
				Container: corev1.Container{Name: "restore-hook", Image: "alpine:latest", Command: []string{"/bin/ash", "-c", "date"}}}},
		},
		{
			name: "velero docs spec example: ordered exec hooks and init containers",
			pod:  podIn("app", nil, nil, "postgres", "sidecar"),
			spec: `
resources:
- name: restore-hook-1
  includedNamespaces: [app]
  includedResources: [deployments] # Velero ignores this for restore hooks
  postHooks:
  - init:
      initContainers:
      - name: restore-hook-init1
        image: alpine:latest
        command: [/bin/ash, -c, echo -n "FOOBARBAZ" >> /restores/pvc1-vm/foobarbaz]
      timeout: 2m
  - exec:
      execTimeout: 1m
      waitTimeout: 5m
      onError: Fail
      container: postgres
      command: [/bin/bash, '-c', 'while ! pg_isready; do sleep 1; done']
  - exec:
      container: sidecar
      command: [/bin/bash, '-c', 'date > /start']
`,
			post: []Hook{
				{Name: "restore-hook-1/postHooks[1]", Phase: PostRestore, Source: Source{Kind: "spec", Ref: "spec.hooks.resources[0].postHooks[1]"},
					Container: "postgres", Command: []string{"/bin/bash", "-c", "while ! pg_isready; do sleep 1; done"},
					Timeout: time.Minute, WaitTimeout: 5 * time.Minute, OnError: Fail, Mode: Exec},
				{Name: "restore-hook-1/postHooks[2]", Phase: PostRestore, Source: Source{Kind: "spec", Ref: "spec.hooks.resources[0].postHooks[2]"},
					Container: "sidecar", Command: []string{"/bin/bash", "-c", "date > /start"},
					Timeout: DefaultTimeout, OnError: Continue, Mode: Exec},
			},
			init: []InitHook{{Name: "restore-hook-init1", Source: Source{Kind: "spec", Ref: "spec.hooks.resources[0].postHooks[0].init.initContainers[0]"},
				Container: corev1.Container{Name: "restore-hook-init1", Image: "alpine:latest",
					Command: []string{"/bin/ash", "-c", `echo -n "FOOBARBAZ" >> /restores/pvc1-vm/foobarbaz`}},
				Timeout: 2 * time.Minute}},
		},
		{
			name: "restore list form under our domain replaces the spec's exec hooks",
			pod: podIn("app", nil, map[string]string{
				"post.hook.restore.quiesce.dev/hooks": `[{"command":["/app/reindex"],"waitTimeout":"5m","waitForReady":true,"retries":1},` +
					`{"name":"warm","container":"sidecar","command":["warm"],"onError":"Fail","timeout":"2m"}]`,
			}, "postgres", "sidecar"),
			spec: `
resources:
- name: ignored-for-exec
  postHooks:
  - exec: {command: [never]}
`,
			post: []Hook{
				{Name: "post-restore[0]", Phase: PostRestore, Source: Source{Kind: "annotation", Ref: "post.hook.restore.quiesce.dev/hooks[0]"},
					Container: "postgres", Command: []string{"/app/reindex"}, Timeout: DefaultTimeout, OnError: Continue, Mode: Exec,
					Retries: 1, WaitTimeout: 5 * time.Minute, WaitForReady: true},
				{Name: "warm", Phase: PostRestore, Source: Source{Kind: "annotation", Ref: "post.hook.restore.quiesce.dev/hooks[1]"},
					Container: "sidecar", Command: []string{"warm"}, Timeout: 2 * time.Minute, OnError: Fail, Mode: Exec},
			},
		},
		{
			name: "bad restore annotations",
			pod: podIn("shop", nil, map[string]string{
				"post.hook.restore.velero.io/command":        `["x"]`,
				"post.hook.restore.velero.io/exec-timeout":   "45",
				"post.hook.restore.velero.io/wait-for-ready": "yes",
				"post.hook.restore.quiesce.dev/when":         "Always",
				"init.hook.restore.velero.io/command":        `["x"]`,
			}, "app"),
			problems: []string{
				`pod shop/db-0: annotation "post.hook.restore.quiesce.dev/when"="Always": unknown hook annotation key (known keys under post.hook.restore.quiesce.dev/: command, container, exec-timeout, hooks, on-error, retries, wait-for-ready, wait-timeout)`,
				`pod shop/db-0: annotation "post.hook.restore.velero.io/exec-timeout"="45": not a duration (use e.g. "45s")`,
				`pod shop/db-0: annotation "post.hook.restore.velero.io/wait-for-ready"="yes": not a boolean (use "true" or "false")`,
				`pod shop/db-0: annotation "init.hook.restore.velero.io/command"="[\"x\"]": has no effect without a container-image annotation (add "init.hook.restore.velero.io/container-image", or remove this key)`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var spec *v1alpha1.RestoreHooks
			if tt.spec != "" {
				spec = restoreSpec(t, tt.spec)
			}
			post, init, err := RestoreHooks(tt.pod, spec)
			if got := problemStrings(t, err); !reflect.DeepEqual(got, tt.problems) {
				t.Errorf("problems:\n got  %q\n want %q", got, tt.problems)
			}
			if !reflect.DeepEqual(post, tt.post) {
				t.Errorf("post:\n got  %+v\n want %+v", post, tt.post)
			}
			if !reflect.DeepEqual(init, tt.init) {
				t.Errorf("init:\n got  %+v\n want %+v", init, tt.init)
			}
		})
	}
}
