package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/hookrun"
	"github.com/quiesce-dev/quiesce/internal/testenv"
)

const hooksTestPod = `apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: shop
  annotations:
    pre.hook.backup.quiesce.dev/hooks: |
      - name: lock
        container: db
        command: [flock, /tmp/lock, -c, "echo locked; cat"]
        mode: Hold
        hold: {readyLine: locked, readyTimeout: 10s, releaseTimeout: 10s}
      - name: flush
        container: app
        command: [sh, -c, "echo flushed; echo flush >> /shared/log"]
    post.hook.backup.quiesce.dev/hooks: |
      - name: notify
        container: app
        command: [sh, -c, "echo notify >> /shared/log; %s"]
spec:
  containers:
  - name: db
    image: busybox
  - name: app
    image: busybox
`

// hooksTestEnv starts containerd, a pod like the one in hooksTestPod, and
// writes the pod file with post-hook tail script.
func hooksTestEnv(t *testing.T, postTail string) (c *testenv.Containerd, pod *testenv.Pod, podFile, shared string) {
	c = testenv.StartContainerd(t)
	shared = t.TempDir()
	m := map[string]string{"/shared": shared}
	pod = c.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "db-0", Containers: []testenv.ContainerSpec{{Name: "db", Mounts: m}, {Name: "app", Mounts: m}}})
	podFile = filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(podFile, []byte(strings.Replace(hooksTestPod, "%s", postTail, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	return c, pod, podFile, shared
}

func TestHooksTestCommand(t *testing.T) {
	c, pod, podFile, shared := hooksTestEnv(t, "true")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	root := newRootCommand()
	pr, pw := io.Pipe()
	root.SetOut(pw)
	root.SetErr(pw)
	root.SetArgs([]string{"hooks", "test", "--pod", "shop/db-0", "--uid", pod.UID, "--pod-file", podFile, "--hold", "10m",
		"--runtime-endpoint", c.Endpoint, "--fifo-dir", c.FIFODir, "-o", "json"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx); pw.Close() }()

	sc := bufio.NewScanner(pr)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "frozen: 2 pre-hook(s) ran, 1 held") {
		t.Fatalf("first output line %q; want the frozen notice", sc.Text())
	}
	if _, code := c.ExecSync(t, pod, "db", "flock", "-n", "/tmp/lock", "-c", "true"); code != 1 {
		t.Fatalf("flock -n exit %d during the hold; want 1 (held)", code)
	}
	cancel() // Ctrl-C: thaw now
	var rest strings.Builder
	for sc.Scan() {
		rest.WriteString(sc.Text() + "\n")
	}
	if err := <-done; err != nil {
		t.Fatalf("hooks test: %v\n%s", err, rest.String())
	}
	out, _ := strings.CutPrefix(rest.String(), "interrupted: thawing now\n")
	var results []hookrun.Result
	if err := json.Unmarshal([]byte(out), &results); err != nil {
		t.Fatalf("output is not the JSON results: %v\n%s", err, rest.String())
	}
	var got []string
	for _, r := range results {
		got = append(got, string(r.Phase)+"/"+r.Hook+"="+string(r.Outcome))
	}
	if strings.Join(got, " ") != "pre/lock=Held pre/flush=Succeeded pre/lock=Released post/notify=Succeeded" {
		t.Fatalf("results %q", got)
	}
	if _, code := c.ExecSync(t, pod, "db", "flock", "-n", "/tmp/lock", "-c", "true"); code != 0 {
		t.Fatalf("flock -n exit %d after thaw; want 0 (released)", code)
	}
	if b, _ := os.ReadFile(filepath.Join(shared, "log")); string(b) != "flush\nnotify\n" {
		t.Fatalf("/shared/log = %q; want flush then notify", b)
	}
}

func TestHooksTestCommandFailingHook(t *testing.T) {
	c, pod, podFile, _ := hooksTestEnv(t, "echo 'no webhook' >&2; exit 7")
	start := time.Now()
	out, err := runQuiesce(t, "hooks", "test", "--pod", "shop/db-0", "--uid", pod.UID, "--pod-file", podFile, "--hold", "0s",
		"--runtime-endpoint", c.Endpoint, "--fifo-dir", c.FIFODir)
	if err == nil || err.Error() != "hooks test: pod shop/db-0: 1 hook(s) failed" {
		t.Fatalf("err = %v; want 1 hook failed (exit 1)\n%s", err, out)
	}
	t.Logf("output:\n%s", out)
	for _, want := range []string{"Failed", `post hook "notify"`, `exit code 7: no webhook`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestHooksTestCommandBadInput(t *testing.T) {
	for _, c := range []struct{ args, want string }{
		{"--pod shop", `--pod "shop": use NAMESPACE/NAME`},
		{"--pod shop/db-0 --pod-file /nonexistent.yaml", "--pod-file: open /nonexistent.yaml"},
	} {
		_, err := runQuiesce(t, append([]string{"hooks", "test"}, strings.Fields(c.args)...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("hooks test %s: err %v; want %q", c.args, err, c.want)
		}
	}
}
