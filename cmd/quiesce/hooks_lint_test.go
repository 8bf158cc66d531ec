package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func runQuiesce(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(""))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// A non-nil error from Execute is exit code 1 (main prints it and exits 1).
func TestHooksLintText(t *testing.T) {
	out, err := runQuiesce(t, "hooks", "lint", "-f", "../../hook/lint/testdata/lint.yaml")
	if err == nil || err.Error() != "hooks lint: 6 problem(s)" {
		t.Fatalf("err = %v, want hooks lint: 6 problem(s) (exit 1)", err)
	}
	for _, want := range []string{
		"statefulset shop/db\n",
		`pre    pre-annotation  redis      ["redis-cli","bgsave"]  30s      Fail      annotation pre.hook.backup.velero.io/command`,
		`post   notify-failure  web        ["/app/alert"]        30s      Fail      annotation post.hook.backup.quiesce.dev/hooks[0]  when=OnFailure`,
		"pod shop/api-0 with backup velero/nightly\n",
		"6 problem(s):\n",
		`  cronjob shop/report: annotation "pre.hook.backup.velero.io/timeout"="300": not a duration (use e.g. "300s")` + "\n",
		`  statefulset shop/db: spec.template.metadata.annotations["pre.hook.backup.velero.io/command"]: key written 2 times (../../hook/lint/testdata/lint.yaml lines 16, 18)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q; output:\n%s", want, out)
		}
	}
}

func TestHooksLintCleanFileExitsZero(t *testing.T) {
	out, err := runQuiesce(t, "hooks", "lint", "-f", "../../hook/lint/testdata/nginx-fsfreeze.yaml")
	if err != nil {
		t.Fatalf("err = %v, want nil (exit 0); output:\n%s", err, out)
	}
	if !strings.Contains(out, `["/sbin/fsfreeze","--unfreeze","/var/log/nginx"]`) || !strings.HasSuffix(out, "no problems\n") {
		t.Errorf("unexpected output:\n%s", out)
	}
}

func TestHooksLintJSON(t *testing.T) {
	out, err := runQuiesce(t, "hooks", "lint", "-o", "json", "-f", "../../hook/lint/testdata/lint.yaml", "-f", "../../hook/lint/testdata/nginx-fsfreeze.yaml")
	if err == nil {
		t.Fatal("want an error (exit 1) for the problems in lint.yaml")
	}
	var got lintJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(got.Problems) != 6 || len(got.Resolved) != 8 {
		t.Fatalf("got %d problems and %d resolved templates, want 6 and 8", len(got.Problems), len(got.Resolved))
	}
	last := got.Resolved[len(got.Resolved)-1]
	if last.Object != "deployment nginx-example/nginx-deployment" || len(last.Hooks) != 2 ||
		last.Hooks[0].Timeout != "30s" || last.Hooks[0].Container != "fsfreeze" {
		t.Errorf("nginx example resolved to %+v", last)
	}
	if got.Problems[1].Field != `annotation "pre.hook.backup.velero.io/timeout"` || got.Problems[1].Value != "300" {
		t.Errorf("problem[1] = %+v", got.Problems[1])
	}
}

func TestHooksLintUsageErrors(t *testing.T) {
	if _, err := runQuiesce(t, "hooks", "lint"); err == nil || !strings.Contains(err.Error(), "no input") {
		t.Errorf("no -f: err = %v", err)
	}
	if _, err := runQuiesce(t, "hooks", "lint", "-f", "does-not-exist.yaml"); err == nil || !strings.Contains(err.Error(), "does-not-exist.yaml") {
		t.Errorf("missing file: err = %v", err)
	}
	if _, err := runQuiesce(t, "hooks", "lint", "-o", "yaml", "-f", "-"); err == nil || !strings.Contains(err.Error(), "use text or json") {
		t.Errorf("bad -o: err = %v", err)
	}
}
