package hook

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testPod(ann map[string]string, containers ...string) *corev1.Pod {
	if len(containers) == 0 {
		containers = []string{"db", "sidecar"}
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0",
		Labels: map[string]string{"app": "db"}, Annotations: ann}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
	}
	p.Spec.InitContainers = []corev1.Container{{Name: "init-perms"}}
	return p
}

func problemStrings(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error is %T, want *ValidationError: %v", err, err)
	}
	out := make([]string, len(ve.Problems))
	for i, p := range ve.Problems {
		out[i] = p.String()
	}
	return out
}

func TestBackupAnnotations(t *testing.T) {
	ann := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	exec := func(name string, phase Phase, ref, container string, cmd ...string) Hook {
		h := Hook{Name: name, Phase: phase, Source: Source{Kind: "annotation", Ref: ref}, Container: container,
			Command: cmd, Timeout: DefaultTimeout, OnError: Fail, Mode: Exec}
		if phase == PostBackup {
			h.When = Always
		}
		return h
	}
	tests := []struct {
		name      string
		ann       map[string]string
		pre, post []Hook
		problems  []string
	}{
		{
			name: "no annotations",
		},
		{
			name: "velero docs: single pre and post hook, JSON commands",
			ann: ann(
				"pre.hook.backup.velero.io/command", `["/sbin/fsfreeze", "--freeze", "/var/lib/db"]`,
				"pre.hook.backup.velero.io/container", "sidecar",
				"post.hook.backup.velero.io/command", `["/sbin/fsfreeze", "--unfreeze", "/var/lib/db"]`,
				"post.hook.backup.velero.io/container", "sidecar"),
			pre:  []Hook{exec("pre-annotation", PreBackup, "pre.hook.backup.velero.io/command", "sidecar", "/sbin/fsfreeze", "--freeze", "/var/lib/db")},
			post: []Hook{exec("post-annotation", PostBackup, "post.hook.backup.velero.io/command", "sidecar", "/sbin/fsfreeze", "--unfreeze", "/var/lib/db")},
		},
		{
			name: "defaults: first container, 30s, Fail; a plain string is one argument",
			ann:  ann("pre.hook.backup.velero.io/command", "/usr/local/bin/freeze.sh"),
			pre:  []Hook{exec("pre-annotation", PreBackup, "pre.hook.backup.velero.io/command", "db", "/usr/local/bin/freeze.sh")},
		},
		{
			name: "legacy unprefixed keys mean pre",
			ann:  ann("hook.backup.velero.io/command", `["sync"]`, "hook.backup.velero.io/timeout", "1m"),
			pre: []Hook{func() Hook {
				h := exec("pre-annotation", PreBackup, "hook.backup.velero.io/command", "db", "sync")
				h.Timeout = time.Minute
				return h
			}()},
		},
		{
			name: "timeout and on-error",
			ann: ann("post.hook.backup.velero.io/command", `["true"]`, "post.hook.backup.velero.io/timeout", "2m30s",
				"post.hook.backup.velero.io/on-error", "Continue"),
			post: []Hook{func() Hook {
				h := exec("post-annotation", PostBackup, "post.hook.backup.velero.io/command", "db", "true")
				h.Timeout, h.OnError = 150*time.Second, Continue
				return h
			}()},
		},
		{
			name: "quiesce domain wins over velero, key by key",
			ann: ann("pre.hook.backup.velero.io/command", `["velero-freeze"]`,
				"pre.hook.backup.velero.io/container", "db",
				"pre.hook.backup.velero.io/timeout", "10s",
				"pre.hook.backup.quiesce.dev/command", `["quiesce-freeze"]`,
				"pre.hook.backup.quiesce.dev/container", "sidecar"),
			pre: []Hook{func() Hook {
				h := exec("pre-annotation", PreBackup, "pre.hook.backup.quiesce.dev/command", "sidecar", "quiesce-freeze")
				h.Timeout = 10 * time.Second
				return h
			}()},
		},
		{
			name: "timeout without unit",
			ann:  ann("pre.hook.backup.velero.io/command", `["sync"]`, "pre.hook.backup.velero.io/timeout", "300"),
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.velero.io/timeout"="300": not a duration (use e.g. "300s")`,
			},
		},
		{
			name: "negative and zero timeouts",
			ann: ann("pre.hook.backup.velero.io/command", `["sync"]`, "pre.hook.backup.velero.io/timeout", "-5s",
				"post.hook.backup.velero.io/command", `["sync"]`, "post.hook.backup.velero.io/timeout", "0s"),
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.velero.io/timeout"="-5s": negative duration (use a positive duration such as "30s")`,
				`pod shop/db-0: annotation "post.hook.backup.velero.io/timeout"="0s": zero duration (omit it for the default, or use a positive duration such as "30s")`,
			},
		},
		{
			name: "malformed JSON command",
			ann:  ann("pre.hook.backup.velero.io/command", `["/bin/sh", "-c", 'sync']`),
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.velero.io/command"="[\"/bin/sh\", \"-c\", 'sync']": not a JSON array of strings: invalid character '\'' looking for beginning of value (write it as ["/bin/sh","-c","..."], with double quotes)`,
			},
		},
		{
			name: "empty commands",
			ann:  ann("pre.hook.backup.velero.io/command", `[]`, "post.hook.backup.velero.io/command", " "),
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.velero.io/command"="[]": empty command (set a command such as ["/bin/sh","-c","sync"])`,
				`pod shop/db-0: annotation "post.hook.backup.velero.io/command"=" ": empty command (set a command such as ["/bin/sh","-c","sync"])`,
			},
		},
		{
			name: "command line without brackets is not split",
			ann:  ann("pre.hook.backup.velero.io/command", `/sbin/fsfreeze --freeze /data`),
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.velero.io/command"="/sbin/fsfreeze --freeze /data": a command without [ ] is ONE argument, it is not split or run by a shell (write it as a JSON array, e.g. ["/sbin/fsfreeze","--freeze","/data"])`,
			},
		},
		{
			name: "unknown container, and an init container does not count",
			ann: ann("pre.hook.backup.velero.io/command", `["sync"]`, "pre.hook.backup.velero.io/container", "dbb",
				"post.hook.backup.velero.io/command", `["sync"]`, "post.hook.backup.velero.io/container", "init-perms"),
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.velero.io/container"="dbb": no such container in the pod (use one of: db, sidecar)`,
				`pod shop/db-0: annotation "post.hook.backup.velero.io/container"="init-perms": no such container in the pod (hooks run in running containers, not init containers; use one of: db, sidecar)`,
			},
		},
		{
			name: "unknown on-error",
			ann:  ann("pre.hook.backup.velero.io/command", `["sync"]`, "pre.hook.backup.velero.io/on-error", "fail"),
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.velero.io/on-error"="fail": unknown on-error value (values are case-sensitive: use "Fail" or "Continue" (Velero treats anything else as Continue))`,
			},
		},
		{
			name: "typo under our domain suggests the nearest key",
			ann:  ann("pre.hook.backup.quiesce.dev/comand", `["sync"]`, "post.hook.backup.quiesce.dev/on-eror", "Fail"),
			problems: []string{
				`pod shop/db-0: annotation "post.hook.backup.quiesce.dev/on-eror"="Fail": unknown hook annotation key (did you mean "post.hook.backup.quiesce.dev/on-error"?)`,
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/comand"="[\"sync\"]": unknown hook annotation key (did you mean "pre.hook.backup.quiesce.dev/command"?)`,
			},
		},
		{
			name: "restore hooks have exec-timeout, not timeout",
			ann:  ann("post.hook.restore.velero.io/command", `["x"]`, "post.hook.restore.velero.io/timeout", "1m"),
			problems: []string{
				`pod shop/db-0: annotation "post.hook.restore.velero.io/timeout"="1m": unknown hook annotation key (did you mean "post.hook.restore.velero.io/exec-timeout"?)`,
			},
		},
		{
			name: "misspelled prefix under our domain",
			ann:  ann("pre.hooks.backup.quiesce.dev/command", `["sync"]`),
			problems: []string{
				`pod shop/db-0: annotation "pre.hooks.backup.quiesce.dev/command"="[\"sync\"]": unknown hook annotation prefix (did you mean "pre.hook.backup.quiesce.dev/command"?)`,
			},
		},
		{
			name: "quiesce extension under velero's domain",
			ann:  ann("pre.hook.backup.velero.io/command", `["sync"]`, "pre.hook.backup.velero.io/retries", "2"),
			pre:  []Hook{exec("pre-annotation", PreBackup, "pre.hook.backup.velero.io/command", "db", "sync")},
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.velero.io/retries"="2": "retries" is a quiesce extension, Velero does not read it (use "pre.hook.backup.quiesce.dev/retries")`,
			},
		},
		{
			name: "container without command",
			ann:  ann("pre.hook.backup.velero.io/container", "db"),
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.velero.io/container"="db": has no effect without a command annotation (add "pre.hook.backup.velero.io/command", or remove this key)`,
			},
		},
		{
			name: "when and mode in the wrong phase",
			ann: ann("pre.hook.backup.quiesce.dev/command", `["sync"]`, "pre.hook.backup.quiesce.dev/when", "OnSuccess",
				"post.hook.backup.quiesce.dev/command", `["sync"]`, "post.hook.backup.quiesce.dev/mode", "Hold"),
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/when"="OnSuccess": when is only valid on post-backup hooks (remove it; a post-backup hook can run Always, OnSuccess or OnFailure of the capture)`,
				`pod shop/db-0: annotation "post.hook.backup.quiesce.dev/mode"="Hold": mode is only valid on pre-backup hooks (put the Hold hook in the pre phase; the post phase releases it)`,
			},
		},
		{
			name: "single-hook hold mode and when under our domain",
			ann: ann("pre.hook.backup.quiesce.dev/command", `["psql","-c","select pg_backup_start('q')","-c","\\echo frozen","-f","-"]`,
				"pre.hook.backup.quiesce.dev/mode", "Hold",
				"pre.hook.backup.quiesce.dev/ready-line", "frozen",
				"pre.hook.backup.quiesce.dev/release-input", "select pg_backup_stop();\n",
				"pre.hook.backup.quiesce.dev/release-timeout", "1m",
				"pre.hook.backup.quiesce.dev/retries", "1",
				"post.hook.backup.quiesce.dev/command", `["notify","failed"]`,
				"post.hook.backup.quiesce.dev/when", "OnFailure"),
			pre: []Hook{{Name: "pre-annotation", Phase: PreBackup, Source: Source{Kind: "annotation", Ref: "pre.hook.backup.quiesce.dev/command"},
				Container: "db", Command: []string{"psql", "-c", "select pg_backup_start('q')", "-c", "\\echo frozen", "-f", "-"},
				Timeout: DefaultTimeout, OnError: Fail, Mode: Hold, Retries: 1,
				Hold: &HoldSpec{ReadyLine: "frozen", ReadyTimeout: DefaultTimeout, ReleaseInput: "select pg_backup_stop();\n", ReleaseTimeout: time.Minute}}},
			post: []Hook{func() Hook {
				h := exec("post-annotation", PostBackup, "post.hook.backup.quiesce.dev/command", "db", "notify", "failed")
				h.When = OnFailure
				return h
			}()},
		},
		{
			name: "hold settings without mode Hold",
			ann:  ann("pre.hook.backup.quiesce.dev/command", `["sync"]`, "pre.hook.backup.quiesce.dev/ready-line", "ok"),
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/ready-line": hold settings need mode Hold (set mode to "Hold", or remove them)`,
			},
		},
		{
			name: "legacy keys shadowed by phased keys",
			ann:  ann("pre.hook.backup.velero.io/command", `["a"]`, "hook.backup.velero.io/command", `["b"]`),
			pre:  []Hook{exec("pre-annotation", PreBackup, "pre.hook.backup.velero.io/command", "db", "a")},
			problems: []string{
				`pod shop/db-0: annotation "hook.backup.velero.io/command"="[\"b\"]": ignored: the pre.hook.backup.* annotations take precedence over the legacy keys (remove the legacy hook.backup.velero.io keys)`,
			},
		},
		{
			name: "all problems at once, valid hooks still returned",
			ann: ann("pre.hook.backup.velero.io/command", `["sync"]`, "pre.hook.backup.velero.io/timeout", "30",
				"post.hook.backup.velero.io/command", `["thaw"]`),
			post: []Hook{exec("post-annotation", PostBackup, "post.hook.backup.velero.io/command", "db", "thaw")},
			problems: []string{
				`pod shop/db-0: annotation "pre.hook.backup.velero.io/timeout"="30": not a duration (use e.g. "30s")`,
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

func TestProblemsNameTheirKey(t *testing.T) {
	_, _, err := BackupHooks(testPod(map[string]string{"pre.hook.backup.velero.io/timeout": "x"}), nil)
	for _, s := range problemStrings(t, err) {
		if !strings.Contains(s, `"pre.hook.backup.velero.io/timeout"`) {
			t.Errorf("problem does not name its key: %s", s)
		}
	}
}
