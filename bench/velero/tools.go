package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Tool names, as the report prints them.
const (
	toolQuiesce = "quiesce"
	toolVelero  = "Velero"
)

// backupManifest is the one Velero Backup both tools are given.
func backupManifest(name string, namespaces ...string) []byte {
	return fmt.Appendf(nil, `apiVersion: velero.io/v1
kind: Backup
metadata:
  name: %s
  namespace: velero
spec:
  includedNamespaces: [%s]
  storageLocation: default
  ttl: 720h0m0s
`, name, strings.Join(namespaces, ", "))
}

var quiesceBackups = schema.GroupVersionResource{Group: "quiesce.dev", Version: "v1alpha1", Resource: "backups"}

// submit hands a Velero manifest (Backup, Schedule or Restore) to a tool:
// Velero gets it applied as it is; quiesce through its CLI, which accepts
// the same manifest (`quiesce backup|restore create -f`). For a Schedule,
// quiesce backs up its template once, named name.
func (e *env) submit(ctx context.Context, tool, name string, manifest []byte) error {
	if err := e.lease(); err != nil {
		return err
	}
	if tool == toolVelero {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal(manifest, &u.Object); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		u.SetName(name)
		u.SetNamespace(veleroNS)
		res := strings.ToLower(u.GetKind()) + "s"
		if _, err := e.dyn.Resource(gvr(res)).Namespace(veleroNS).Create(ctx, &u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("velero: create %s %s: %w", u.GetKind(), name, err)
		}
		return nil
	}
	f := filepath.Join(e.o.work, name+".yaml")
	if err := os.WriteFile(f, manifest, 0o600); err != nil {
		return err
	}
	kind := "backup"
	if strings.Contains(string(manifest), "kind: Restore") {
		kind = "restore"
	}
	_, err := run(ctx, nil, e.o.quiesce, kind, "create", name, "-n", quiesceNS, "--kubeconfig", e.o.kubeconfig, "-f", f)
	return err
}

// waitFinal follows a tool's Backup or Restore by watch (one request, the
// same for both tools) until its phase is final, and returns it and the
// object.
func (e *env) waitFinal(ctx context.Context, tool, resource, name string, timeout time.Duration) (string, *unstructured.Unstructured, error) {
	ns, r := veleroNS, gvr(resource)
	if tool == toolQuiesce {
		ns, r = quiesceNS, schema.GroupVersionResource{Group: "quiesce.dev", Version: "v1alpha1", Resource: resource}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ri := e.dyn.Resource(r).Namespace(ns)
	final := func(u *unstructured.Unstructured) (string, bool) {
		p, _, _ := unstructuredString(u.Object, "status", "phase")
		switch p {
		case "Completed", "PartiallyFailed", "Failed", "FailedValidation":
			return p, true
		}
		return p, false
	}
	last := ""
	for {
		// A Get before each watch: the object may be final already, or the
		// watch may have ended (an API server stopped by the harness).
		u, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			if p, ok := final(u); ok {
				return p, u, nil
			}
			last, _ = final(u)
		}
		w, err := ri.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
		if err == nil {
			for ev := range w.ResultChan() {
				if ev.Type != watch.Added && ev.Type != watch.Modified {
					continue
				}
				u := ev.Object.(*unstructured.Unstructured)
				if p, ok := final(u); ok {
					w.Stop()
					return p, u, nil
				}
				last, _ = final(u)
			}
			w.Stop()
		}
		select {
		case <-ctx.Done():
			return last, nil, fmt.Errorf("%s %s %s: not final within %s (phase %q)", tool, resource, name, timeout, last)
		case <-time.After(time.Second):
		}
	}
}

// hookTiming is one pod's pre-hook as its tool saw it.
type hookTiming struct {
	// RoundTrip: from the tool starting the exec to it seeing the exit.
	RoundTrip time.Duration
	// Start: from the tool starting the exec to the command's first
	// instruction (the frozen-at stamp); Velero only (its log says when it
	// sent the exec; quiesce records durations, not start times).
	Start time.Duration
}

// quiesceHooks reads the pre-hook durations the agents recorded in the
// backup's NodeBackups.
func (e *env) quiesceHooks(ctx context.Context, backup string) (map[string]hookTiming, []api.PodResult, error) {
	var nbs api.NodeBackupList
	if err := e.cl.List(ctx, &nbs, client.InNamespace(quiesceNS), client.MatchingLabels{api.LabelBackup: backup}); err != nil {
		return nil, nil, fmt.Errorf("quiesce backup %s: nodebackups: %w", backup, err)
	}
	pods, _ := api.BackupReport(nil, nbs.Items)
	out := map[string]hookTiming{}
	for _, p := range pods {
		for _, h := range p.Hooks {
			if h.Phase == "pre" {
				out[p.Name] = hookTiming{RoundTrip: h.Duration.Duration}
			}
		}
	}
	return out, pods, nil
}

var (
	logKV        = regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S+)`)
	podInCommand = regexp.MustCompile(`: pod=([\w.-]+);`)
)

// veleroLogLine is one line of the Velero server's log with the container
// runtime's timestamp (nanoseconds; Velero's own stamp has seconds only).
type veleroLogLine struct {
	At     time.Time
	Fields map[string]string
}

func (e *env) veleroLog(ctx context.Context, since time.Time) ([]veleroLogLine, error) {
	pods, err := e.c.Client.CoreV1().Pods(veleroNS).List(ctx, metav1.ListOptions{LabelSelector: "deploy=velero"})
	if err != nil || len(pods.Items) == 0 {
		return nil, fmt.Errorf("velero server pod: %v (%d found)", err, len(pods.Items))
	}
	st := metav1.NewTime(since.Add(-time.Second))
	rc, err := e.c.Client.CoreV1().Pods(veleroNS).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{Container: "velero", Timestamps: true, SinceTime: &st}).Stream(ctx)
	if err != nil {
		return nil, fmt.Errorf("velero server log: %w", err)
	}
	defer rc.Close()
	var out []veleroLogLine
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		ts, rest, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		l := veleroLogLine{At: at, Fields: map[string]string{}}
		for _, m := range logKV.FindAllStringSubmatch(rest, -1) {
			l.Fields[m[1]] = strings.Trim(m[2], `"`)
		}
		out = append(out, l)
	}
	return out, sc.Err()
}

// veleroHooks pairs each pod's "running exec hook" line (the exec is sent
// next) with the "stdout:" line Velero logs once the exec returned.
func (e *env) veleroHooks(ctx context.Context, backup string, since time.Time, pods []workPod) (map[string]hookTiming, error) {
	lines, err := e.veleroLog(ctx, since)
	if err != nil {
		return nil, err
	}
	sent := map[string]time.Time{}
	out := map[string]hookTiming{}
	for _, l := range lines {
		f := l.Fields
		if f["backup"] != veleroNS+"/"+backup || f["hookPhase"] != "pre" {
			continue
		}
		pod := f["name"]
		if m := podInCommand.FindStringSubmatch(f["hookCommand"]); m != nil {
			pod = m[1]
		}
		switch {
		case f["msg"] == "running exec hook":
			sent[pod] = l.At
		case strings.HasPrefix(f["msg"], "stdout:") && !sent[pod].IsZero():
			out[pod] = hookTiming{RoundTrip: l.At.Sub(sent[pod])}
		}
	}
	for _, p := range pods {
		t, ok := out[p.Name]
		frozen, _ := p.marks()
		if ok && !frozen.IsZero() {
			t.Start = frozen.Sub(sent[p.Name])
			out[p.Name] = t
		}
	}
	return out, nil
}
