// Package charttest renders the Helm chart with the real helm binary and
// checks what the rendered objects grant and mount.
package charttest

import (
	"bufio"
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

func helmBinary(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HELM"), "../../bin/helm"} {
		if p == "" {
			continue
		}
		if abs, err := filepath.Abs(p); err == nil {
			if _, err := os.Stat(abs); err == nil {
				return abs
			}
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("QUIESCE_INTEGRATION") == "1" {
		t.Fatal("helm not found: run `make helm` (builds bin/helm) or set HELM")
	}
	t.Skip("helm not found; `make helm` builds it")
	return ""
}

func render(t *testing.T, args ...string) (map[string][][]byte, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), append([]string{"template", "quiesce", "../quiesce", "--namespace", "quiesce"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, &renderError{stderr.String()}
	}
	docs := map[string][][]byte{}
	r := utilyaml.NewYAMLReader(bufioReader(out))
	for {
		doc, err := r.Read()
		if err != nil {
			break
		}
		var head struct{ Kind string }
		if yaml.Unmarshal(doc, &head) != nil || head.Kind == "" {
			continue
		}
		docs[head.Kind] = append(docs[head.Kind], doc)
	}
	return docs, nil
}

type renderError struct{ stderr string }

func (e *renderError) Error() string { return e.stderr }

func decode[T any](t *testing.T, doc []byte) *T {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, doc)
	}
	return &v
}

func TestChartRefusesToRunWithoutPassword(t *testing.T) {
	_, err := render(t)
	if err == nil || !strings.Contains(err.Error(), "repository.password is empty") {
		t.Fatalf("render without a password: %v", err)
	}
	if _, err := render(t, "--set", "repository.existingSecret=my-secret"); err != nil {
		t.Fatalf("existingSecret must be enough: %v", err)
	}
}

func TestChartObjects(t *testing.T) {
	docs, err := render(t, "--set", "repository.password=pw",
		"--set", "coordinator.schedules[0].name=nightly", "--set", "coordinator.schedules[0].schedule=0 2 * * *",
		"--set", "coordinator.schedules[0].template.includedNamespaces[0]=shop",
		"--set", "coordinator.schedules[1].name=hourly", "--set", "coordinator.schedules[1].schedule=0 * * * *",
		"--set", "agent.nodeSelector.quiesce\\.dev/agent=true")
	if err != nil {
		t.Fatal(err)
	}
	if len(docs["CustomResourceDefinition"]) != 0 {
		t.Log("CRDs are rendered by helm install from crds/, not templates")
	}

	// Agent: least privilege, status only (its assignments' rules are in
	// a namespaced Role: TestChartAgentWritesOnlyStatus).
	var roles []*rbacv1.ClusterRole
	for _, doc := range docs["ClusterRole"] {
		roles = append(roles, decode[rbacv1.ClusterRole](t, doc))
	}
	for _, doc := range docs["Role"] {
		r := decode[rbacv1.Role](t, doc)
		roles = append(roles, &rbacv1.ClusterRole{ObjectMeta: r.ObjectMeta, Rules: r.Rules})
	}
	for _, role := range roles {
		if strings.HasSuffix(role.Name, "-coordinator") {
			// Backup-level hooks exec through the API server: an explicit
			// rule, in the core group only.
			if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
				return slices.Equal(r.APIGroups, []string{""}) && slices.Equal(r.Resources, []string{"pods/exec"}) && slices.Contains(r.Verbs, "create")
			}) {
				t.Errorf("coordinator role %+v lacks create on pods/exec (backup-level hooks)", role.Rules)
			}
			// The job form: Jobs created, watched and deleted on timeout,
			// their pods' logs read; explicit rules, as the wide one grants
			// no delete.
			for _, want := range []rbacv1.PolicyRule{
				{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
				{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
			} {
				if !slices.ContainsFunc(role.Rules, func(r rbacv1.PolicyRule) bool {
					return slices.Equal(r.APIGroups, want.APIGroups) && slices.Equal(r.Resources, want.Resources) &&
						!slices.ContainsFunc(want.Verbs, func(v string) bool { return !slices.Contains(r.Verbs, v) })
				}) {
					t.Errorf("coordinator role %+v lacks %v on %v (backup-level hooks of the job form)", role.Rules, want.Verbs, want.Resources)
				}
			}
		}
		if !strings.HasSuffix(role.Name, "-agent") {
			continue
		}
		for _, r := range role.Rules {
			for _, res := range r.Resources {
				if res == "pods/exec" || res == "*" {
					t.Errorf("agent may %v %s: its hooks run through the node's runtime, never API-server exec", r.Verbs, res)
				}
				writes := slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" })
				if writes && res != "nodebackups/status" && res != "noderestores/status" && res != "events" {
					t.Errorf("agent may %v %s: it may write only its assignments' status and events", r.Verbs, res)
				}
			}
		}
	}

	ds := decode[appsv1.DaemonSet](t, docs["DaemonSet"][0])
	spec := ds.Spec.Template.Spec
	if spec.NodeSelector["quiesce.dev/agent"] != "true" {
		t.Errorf("nodeSelector = %v", spec.NodeSelector)
	}
	agent := spec.Containers[0]
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range agent.VolumeMounts {
		mounts[m.MountPath] = m
	}
	pods, ok := mounts["/var/lib/kubelet/pods"]
	if !ok || pods.ReadOnly || pods.MountPropagation == nil || *pods.MountPropagation != corev1.MountPropagationHostToContainer {
		t.Errorf("kubelet pods mount = %+v, want read-write (restores write volume data) with HostToContainer propagation", pods)
	}
	// The socket's directory: containerd restarted makes a new socket file,
	// which a mount of the file itself would never see.
	if _, ok := mounts["/run/containerd"]; !ok {
		t.Errorf("CRI socket's directory not mounted: %v", mounts)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range agent.Env {
		env[e.Name] = e
	}
	if e := env["NODE_NAME"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME = %+v, want the downward API", e)
	}
	if e := env["QUIESCE_REPO_PASSWORD"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.Value != "" {
		t.Errorf("password must come from a Secret: %+v", e)
	}

	// The thaw guard: the agent's node paths, and no repository password
	// (it needs neither the API server nor the repository).
	if len(spec.Containers) != 2 || spec.Containers[1].Name != "guard" || !slices.Equal(spec.Containers[1].Args[:2], []string{"agent", "guard"}) {
		t.Fatalf("containers %v: want the agent, then the thaw guard", spec.Containers)
	}
	guard := spec.Containers[1]
	gm := map[string]bool{}
	for _, m := range guard.VolumeMounts {
		gm[m.MountPath] = reflect.DeepEqual(mounts[m.MountPath], m)
	}
	for _, p := range []string{"/var/lib/kubelet/pods", "/run/containerd", "/run/containerd/fifo", "/var/lib/quiesce/state"} {
		if !gm[p] {
			t.Errorf("guard mounts %v: want %s mounted as the agent mounts it", guard.VolumeMounts, p)
		}
	}
	if slices.ContainsFunc(guard.Env, func(e corev1.EnvVar) bool { return e.Name == "QUIESCE_REPO_PASSWORD" }) {
		t.Error("the guard has the repository password: it must not need it")
	}
	if off, err := render(t, "--set", "repository.password=pw", "--set", "agent.guard.enabled=false"); err != nil {
		t.Fatal(err)
	} else if n := len(decode[appsv1.DaemonSet](t, off["DaemonSet"][0]).Spec.Template.Spec.Containers); n != 1 {
		t.Errorf("agent.guard.enabled=false: %d containers, want the agent alone", n)
	}

	cronJobs := map[string]*batchv1.CronJob{}
	for _, doc := range docs["CronJob"] {
		cj := decode[batchv1.CronJob](t, doc)
		cronJobs[cj.Name] = cj
	}
	if len(cronJobs) != 3 {
		t.Fatalf("CronJobs %v, want one per schedule and the runner", slices.Collect(maps.Keys(cronJobs)))
	}
	cj := cronJobs["quiesce-nightly"]
	if cj.Spec.Schedule != "0 2 * * *" || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("cronjob = %s %s", cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
	}
	coord := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	args := strings.Join(coord.Args, " ")
	if !strings.HasPrefix(args, "coordinator --schedule=nightly") || !strings.Contains(args, "--repo=/var/lib/quiesce/repository") {
		t.Errorf("coordinator args = %s, want the schedule's command and the repository", args)
	}
	// The runner is the template of on-demand Jobs, which put their own
	// command first: it must never fire and must carry only shared flags.
	runner, ok := cronJobs["quiesce-runner"]
	if !ok || runner.Spec.Suspend == nil || !*runner.Spec.Suspend || runner.Labels["quiesce.dev/runner"] != "true" {
		t.Fatalf("runner CronJob = %+v, want suspended with label quiesce.dev/runner=true", runner.ObjectMeta)
	}
	rc := runner.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	if len(rc.Args) == 0 || !strings.HasPrefix(rc.Args[0], "--") || !slices.Contains(rc.Args, "--repo=/var/lib/quiesce/repository") {
		t.Errorf("runner args = %v, want only flags, the repository among them", rc.Args)
	}
	var image bool
	for _, e := range rc.Env {
		image = image || (e.Name == "QUIESCE_IMAGE" && e.Value == "docker.io/quiesce/quiesce:dev")
	}
	if !image {
		t.Errorf("runner env %v lacks QUIESCE_IMAGE (the restore wait container's image)", rc.Env)
	}
	var tmplFound bool
	for _, doc := range docs["ConfigMap"] {
		cm := decode[corev1.ConfigMap](t, doc)
		if cm.Name == "quiesce-nightly" && strings.Contains(cm.Data["template.yaml"], "includedNamespaces") {
			tmplFound = true
		}
	}
	if !tmplFound {
		t.Error("the nightly schedule's backup template is not in its ConfigMap")
	}
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
