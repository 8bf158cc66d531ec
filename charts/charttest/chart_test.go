// Package charttest renders the Helm chart with the real helm binary and
// checks what the rendered objects grant and mount.
package charttest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
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

	// Agent: least privilege, status only.
	for _, doc := range docs["ClusterRole"] {
		role := decode[rbacv1.ClusterRole](t, doc)
		if !strings.HasSuffix(role.Name, "-agent") {
			continue
		}
		for _, r := range role.Rules {
			for _, res := range r.Resources {
				writes := slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" })
				if writes && res != "nodebackups/status" && res != "events" {
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
	if !ok || !pods.ReadOnly || pods.MountPropagation == nil || *pods.MountPropagation != corev1.MountPropagationHostToContainer {
		t.Errorf("kubelet pods mount = %+v, want read-only with HostToContainer propagation", pods)
	}
	if _, ok := mounts["/run/containerd/containerd.sock"]; !ok {
		t.Errorf("CRI socket not mounted: %v", mounts)
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

	if n := len(docs["CronJob"]); n != 2 {
		t.Fatalf("%d CronJobs, want one per schedule", n)
	}
	cj := decode[batchv1.CronJob](t, docs["CronJob"][0])
	if cj.Spec.Schedule != "0 2 * * *" || cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("cronjob = %s %s", cj.Spec.Schedule, cj.Spec.ConcurrencyPolicy)
	}
	args := strings.Join(cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Args, " ")
	if !strings.Contains(args, "coordinator --schedule=nightly") {
		t.Errorf("coordinator args = %s", args)
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
