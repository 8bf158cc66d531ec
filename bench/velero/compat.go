package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/quiesce-dev/quiesce/e2e/cluster"
)

const (
	compatNS       = "vel-compat"
	compatRestored = "vel-compat-r"
)

// hk is a hook command that records itself: phase, label and the container
// it ran in (from the container's own environment) into the pod's hooklog
// volume, which is not backed up. extra runs after it (e.g. "exit 3").
func hk(phase, label, extra string) string {
	s := fmt.Sprintf(`echo "%s %s $CONTAINER" >> /hooklog/log`, phase, label)
	if extra != "" {
		s += "; " + extra
	}
	return shJSON(s)
}

// compatPod has two containers (app, side) that say who they are in
// $CONTAINER, a data volume opted in to backup and a hooklog volume.
func compatPod(name, node string, labels, ann map[string]string) *corev1.Pod {
	grace := int64(1)
	ctr := func(n string) corev1.Container {
		return corev1.Container{Name: n, Image: cluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
			Command: []string{"sleep", "2147483647"}, Env: []corev1.EnvVar{{Name: "CONTAINER", Value: n}},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "hooklog", MountPath: "/hooklog"}}}
	}
	ann["backup.velero.io/backup-volumes"] = "data"
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: compatNS, Labels: labels, Annotations: ann},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{"kubernetes.io/hostname": node},
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{ctr("app"), ctr("side")},
			Volumes: []corev1.Volume{
				{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "hooklog", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
}

// compatPods covers the hook shapes Velero documents: per-phase
// annotations with and without a container, the legacy key, spec hooks by
// label (several, across containers), an annotation replacing the spec
// hooks of its phase, onError Continue and Fail, and restore hooks (init
// container and post-restore exec, by annotation and by spec).
func compatPods() []*corev1.Pod {
	a, b := cluster.Nodes[0], cluster.Nodes[1]
	none := map[string]string{}
	spec := map[string]string{"hooks": "spec"}
	return []*corev1.Pod{
		compatPod("anno-0", a, none, map[string]string{
			"pre.hook.backup.velero.io/container": "side", "pre.hook.backup.velero.io/command": hk("pre", "anno", ""),
			"post.hook.backup.velero.io/container": "side", "post.hook.backup.velero.io/command": hk("post", "anno", "")}),
		compatPod("default-0", b, none, map[string]string{
			"pre.hook.backup.velero.io/command": hk("pre", "default", ""), "post.hook.backup.velero.io/command": hk("post", "default", "")}),
		compatPod("spec-0", a, spec, map[string]string{}),
		compatPod("both-0", b, spec, map[string]string{
			"pre.hook.backup.velero.io/container": "side", "pre.hook.backup.velero.io/command": hk("pre", "anno-replaces-spec", "")}),
		compatPod("fail-continue-0", a, none, map[string]string{
			"pre.hook.backup.velero.io/command": hk("pre", "fail-continue", "exit 3"), "pre.hook.backup.velero.io/on-error": "Continue",
			"post.hook.backup.velero.io/command": hk("post", "fail-continue", "")}),
		compatPod("fail-stop-0", b, none, map[string]string{
			"pre.hook.backup.velero.io/command": hk("pre", "fail-stop", "exit 4"), "pre.hook.backup.velero.io/on-error": "Fail",
			"post.hook.backup.velero.io/command": hk("post", "fail-stop", "")}),
		compatPod("unset-onerror-0", a, none, map[string]string{
			"pre.hook.backup.velero.io/command":  hk("pre", "unset-onerror", "exit 5"),
			"post.hook.backup.velero.io/command": hk("post", "unset-onerror", "")}),
		compatPod("legacy-0", b, none, map[string]string{
			"hook.backup.velero.io/container": "side", "hook.backup.velero.io/command": hk("pre", "legacy", "")}),
		compatPod("restore-0", a, spec, map[string]string{
			"init.hook.restore.velero.io/container-image": cluster.BusyboxImage,
			"init.hook.restore.velero.io/container-name":  "restore-init",
			"init.hook.restore.velero.io/command":         `["/bin/sh", "-c", "echo init-ran"]`,
			"post.hook.restore.velero.io/container":       "side",
			"post.hook.restore.velero.io/command":         hk("post-restore", "anno", "")}),
	}
}

const compatBackupSpec = `  includedNamespaces: [vel-compat]
  storageLocation: default
  ttl: 720h0m0s
  hooks:
    resources:
      - name: by-label
        includedNamespaces: [vel-compat]
        labelSelector: {matchLabels: {hooks: spec}}
        pre:
          - exec: {container: side, command: %s, onError: Fail, timeout: 20s}
          - exec: {container: app, command: %s, onError: Fail, timeout: 20s}
        post:
          - exec: {container: app, command: %s}
`

func compatBackup(name string) []byte {
	return fmt.Appendf(nil, "apiVersion: velero.io/v1\nkind: Backup\nmetadata: {name: %s, namespace: velero}\nspec:\n"+compatBackupSpec,
		name, hk("pre", "spec-1", ""), hk("pre", "spec-2", ""), hk("post", "spec", ""))
}

// compatSchedule fires every minute: Velero's first backup of a new
// Schedule comes at its first tick; quiesce backs up its template once.
func compatSchedule(name string) []byte {
	indented := strings.ReplaceAll(fmt.Sprintf(compatBackupSpec, hk("pre", "spec-1", ""), hk("pre", "spec-2", ""), hk("post", "spec", "")), "\n  ", "\n    ")
	return fmt.Appendf(nil, "apiVersion: velero.io/v1\nkind: Schedule\nmetadata: {name: %s, namespace: velero}\nspec:\n  schedule: \"* * * * *\"\n  template:\n  %s",
		name, indented)
}

func compatRestore(name, backup string) []byte {
	return fmt.Appendf(nil, `apiVersion: velero.io/v1
kind: Restore
metadata: {name: %s, namespace: velero}
spec:
  backupName: %s
  includedNamespaces: [vel-compat]
  namespaceMapping: {vel-compat: %s}
  hooks:
    resources:
      - name: restore-by-label
        includedNamespaces: [vel-compat, %s]
        labelSelector: {matchLabels: {hooks: spec}}
        postHooks:
          - exec: {container: app, command: %s, waitTimeout: 2m, execTimeout: 20s, onError: Continue}
`, name, backup, compatRestored, compatRestored, hk("post-restore", "spec", ""))
}

// compatRun is what one manifest did with one tool.
type compatRun struct {
	Tool, Kind, Name, Phase     string
	HooksAttempted, HooksFailed int64
	Hooks                       map[string][]string // pod -> hooklog lines, in order
	Restored                    map[string]restoredPod
	Err                         string
}

type restoredPod struct {
	Ready          bool
	InitContainers []string
	// Data: file -> short sha256; DataMatches: the source's files, same
	// bytes (files the restore adds are listed in Data only).
	Data        map[string]string
	DataMatches bool
	Hooks       []string
}

type compatReport struct {
	Runs []compatRun
	// Source is each source pod's data: file -> short sha256.
	Source map[string]map[string]string
}

func (e *env) compat(ctx context.Context) (*compatReport, error) {
	rep := &compatReport{Source: map[string]map[string]string{}}
	if err := e.createNamespace(ctx, compatNS); err != nil {
		return rep, err
	}
	pods := compatPods()
	sizes := make([]int, len(pods))
	for i := range sizes {
		sizes[i] = 1
	}
	wp, err := e.createPods(ctx, compatNS, pods, sizes)
	if err != nil {
		return rep, err
	}
	for _, p := range wp {
		if err := fill(p, 0, -1); err != nil {
			return rep, err
		}
		rep.Source[p.Name] = hashDir(p.volume("data"))
	}
	stamp := time.Now().UTC().Format("150405")
	backupName := "compat-" + stamp
	for _, tool := range []string{toolVelero, toolQuiesce} {
		// Backup: the same manifest, the same name, to each tool.
		r := e.compatBackupRun(ctx, tool, "Backup", backupName, compatBackup(backupName), wp)
		rep.Runs = append(rep.Runs, r)
		// Schedule: its first backup.
		r = e.compatScheduleRun(ctx, tool, "sched-"+stamp, wp)
		rep.Runs = append(rep.Runs, r)
		// Restore of the Backup into vel-compat-r.
		r = e.compatRestoreRun(ctx, tool, "restore-"+stamp, backupName, wp, rep.Source)
		rep.Runs = append(rep.Runs, r)
		if err := e.lease(); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

func (e *env) compatBackupRun(ctx context.Context, tool, kind, name string, manifest []byte, pods []workPod) compatRun {
	r := compatRun{Tool: tool, Kind: kind, Name: name}
	clearHooklogs(pods)
	if err := e.submit(ctx, tool, name, manifest); err != nil {
		r.Err = err.Error()
		return r
	}
	e.finishBackupRun(ctx, &r, pods)
	return r
}

func (e *env) finishBackupRun(ctx context.Context, r *compatRun, pods []workPod) {
	phase, u, err := e.waitFinal(ctx, r.Tool, "backups", r.Name, 15*time.Minute)
	r.Phase = phase
	if err != nil {
		r.Err = err.Error()
	}
	if u != nil {
		r.HooksAttempted, r.HooksFailed = hookCounts(r.Tool, u)
	}
	r.Hooks = map[string][]string{}
	for _, p := range pods {
		r.Hooks[p.Name] = readLines(filepath.Join(p.volume("hooklog"), "log"))
	}
	e.logf("compat %s %s %s: %s, hooks attempted %d failed %d", r.Tool, r.Kind, r.Name, r.Phase, r.HooksAttempted, r.HooksFailed)
}

// compatScheduleRun: Velero gets the Schedule and its first backup is
// awaited; quiesce backs the Schedule's template up once (backup create -f
// with a Schedule), which is what quiesce documents.
func (e *env) compatScheduleRun(ctx context.Context, tool, name string, pods []workPod) compatRun {
	r := compatRun{Tool: tool, Kind: "Schedule", Name: name}
	clearHooklogs(pods)
	if err := e.submit(ctx, tool, name, compatSchedule(name)); err != nil {
		r.Err = err.Error()
		return r
	}
	if tool == toolVelero {
		defer func() {
			_ = e.dyn.Resource(gvr("schedules")).Namespace(veleroNS).Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
		}()
		var backup string
		err := cluster.WaitFor(ctx, 3*time.Minute, "the first backup of schedule "+name, func(ctx context.Context) (bool, string, error) {
			l, err := e.dyn.Resource(gvr("backups")).Namespace(veleroNS).List(ctx, metav1.ListOptions{LabelSelector: "velero.io/schedule-name=" + name})
			if err != nil || len(l.Items) == 0 {
				return false, fmt.Sprint(err), nil
			}
			backup = l.Items[0].GetName()
			return true, "", nil
		})
		if err != nil {
			r.Err = err.Error()
			return r
		}
		r.Name = backup
	}
	e.finishBackupRun(ctx, &r, pods)
	return r
}

func (e *env) compatRestoreRun(ctx context.Context, tool, name, backup string, pods []workPod, source map[string]map[string]string) compatRun {
	r := compatRun{Tool: tool, Kind: "Restore", Name: name, Restored: map[string]restoredPod{}}
	e.deleteNamespace(ctx, compatRestored)
	e.onCleanup(func(ctx context.Context) { e.deleteNamespace(ctx, compatRestored) })
	if err := e.submit(ctx, tool, name, compatRestore(name, backup)); err != nil {
		r.Err = err.Error()
		return r
	}
	phase, u, err := e.waitFinal(ctx, tool, "restores", name, 15*time.Minute)
	r.Phase = phase
	if err != nil {
		r.Err = err.Error()
	}
	if u != nil {
		r.HooksAttempted, r.HooksFailed = hookCounts(tool, u)
	}
	// Post-restore hooks may still run once the restore is final (Velero
	// runs them asynchronously); give the pods a moment to be Ready.
	for _, src := range pods {
		// Both tools create the pods before the restore is final: one not
		// there now was left out, and is not waited for.
		if _, err := e.c.Client.CoreV1().Pods(compatRestored).Get(ctx, src.Name, metav1.GetOptions{}); err != nil {
			continue
		}
		got, err := e.c.WaitPod(ctx, compatRestored, src.Name, 2*time.Minute, cluster.PodReady)
		if got == nil {
			continue
		}
		rp := restoredPod{Ready: err == nil}
		for _, c := range got.Spec.InitContainers {
			rp.InitContainers = append(rp.InitContainers, c.Name)
		}
		host := workPod{Name: src.Name, host: filepath.Join(e.c.KubeletDir(got.Spec.NodeName), "pods", string(got.UID))}
		time.Sleep(2 * time.Second)
		rp.Data = hashDir(host.volume("data"))
		rp.DataMatches = len(source[src.Name]) > 0
		for f, h := range source[src.Name] {
			if rp.Data[f] != h {
				rp.DataMatches = false
			}
		}
		rp.Hooks = readLines(filepath.Join(host.volume("hooklog"), "log"))
		r.Restored[src.Name] = rp
	}
	e.logf("compat %s Restore %s: %s, %d pods restored", tool, name, r.Phase, len(r.Restored))
	return r
}

func hookCounts(tool string, u *unstructured.Unstructured) (attempted, failed int64) {
	path := []string{"status"}
	if tool == toolVelero {
		path = append(path, "hookStatus")
	}
	attempted, _, _ = unstructured.NestedInt64(u.Object, append(path, "hooksAttempted")...)
	failed, _, _ = unstructured.NestedInt64(u.Object, append(path, "hooksFailed")...)
	return attempted, failed
}

func clearHooklogs(pods []workPod) {
	for _, p := range pods {
		_ = os.Remove(filepath.Join(p.volume("hooklog"), "log"))
	}
}

func readLines(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// hashDir maps each regular file under dir to the first 12 hex digits of
// its sha256.
func hashDir(dir string) map[string]string {
	out := map[string]string{}
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		sum := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, path)
		out[rel] = hex.EncodeToString(sum[:6])
		return nil
	})
	return out
}

// markdown prints, per manifest kind, each tool's outcome and each pod's
// hooks side by side, marking the rows that differ.
func (c *compatReport) markdown() string {
	var b strings.Builder
	byKind := map[string]map[string]compatRun{}
	for _, r := range c.Runs {
		if byKind[r.Kind] == nil {
			byKind[r.Kind] = map[string]compatRun{}
		}
		byKind[r.Kind][r.Tool] = r
	}
	for _, kind := range []string{"Backup", "Schedule", "Restore"} {
		v, q := byKind[kind][toolVelero], byKind[kind][toolQuiesce]
		fmt.Fprintf(&b, "#### %s\n\n| | Velero | quiesce |\n|---|---|---|\n", kind)
		fmt.Fprintf(&b, "| phase | %s | %s |\n| hooks attempted / failed | %d / %d | %d / %d |\n",
			v.Phase, q.Phase, v.HooksAttempted, v.HooksFailed, q.HooksAttempted, q.HooksFailed)
		if v.Err != "" || q.Err != "" {
			fmt.Fprintf(&b, "| error | %s | %s |\n", oneLine(v.Err), oneLine(q.Err))
		}
		pods := slices.Sorted(func(yield func(string) bool) {
			for p := range c.Source {
				if !yield(p) {
					return
				}
			}
		})
		for _, p := range pods {
			if kind == "Restore" {
				rv, rq := v.Restored[p], q.Restored[p]
				sv, sq := restoredCell(rv, v.Restored != nil && v.Restored[p].Data != nil), restoredCell(rq, q.Restored != nil && q.Restored[p].Data != nil)
				fmt.Fprintf(&b, "| %s%s | %s | %s |\n", p, diffMark(sv, sq), sv, sq)
				continue
			}
			hv, hq := strings.Join(v.Hooks[p], "; "), strings.Join(q.Hooks[p], "; ")
			fmt.Fprintf(&b, "| %s%s | %s | %s |\n", p, diffMark(hv, hq), orNone(hv), orNone(hq))
		}
		b.WriteString("\n")
	}
	return b.String()
}

func restoredCell(r restoredPod, present bool) string {
	if !present {
		return "not restored"
	}
	var parts []string
	if !r.Ready {
		parts = append(parts, "not Ready")
	}
	parts = append(parts, "init: "+orNone(strings.Join(r.InitContainers, ",")))
	if r.DataMatches {
		parts = append(parts, "data: same")
	} else {
		parts = append(parts, fmt.Sprintf("data: differs (%d files)", len(r.Data)))
	}
	parts = append(parts, "hooks: "+orNone(strings.Join(r.Hooks, "; ")))
	return strings.Join(parts, ", ")
}

func diffMark(a, b string) string {
	if a != b {
		return " (differs)"
	}
	return ""
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "/")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
