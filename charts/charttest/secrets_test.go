package charttest

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestChartSecretsOnlyFromSecret checks that the repository password and
// the S3 keys reach the workloads only through a Secret reference (kubectl
// describe shows the reference, not the value), and only the workloads that
// open the repository.
func TestChartSecretsOnlyFromSecret(t *testing.T) {
	const password, s3secret = "render-check-password-7f3a", "render-check-s3-secret-91c2"
	docs, err := render(t, "--set", "repository.password="+password, "--set", "repository.type=s3",
		"--set", "repository.s3.bucket=b", "--set", "repository.s3.endpoint=s3.example:9000",
		"--set", "repository.s3.accessKeyID=AKIDRENDER", "--set", "repository.s3.secretAccessKey="+s3secret)
	if err != nil {
		t.Fatal(err)
	}
	for kind, list := range docs {
		for _, doc := range list {
			for _, v := range []string{password, s3secret} {
				if kind != "Secret" && bytes.Contains(doc, []byte(v)) {
					t.Errorf("a credential appears in a %s:\n%s", kind, doc)
				}
			}
		}
	}
	sec := decode[corev1.Secret](t, docs["Secret"][0])
	if sec.StringData["aws-secret-access-key"] != s3secret || sec.StringData["aws-access-key-id"] != "AKIDRENDER" {
		t.Errorf("the chart's Secret lacks the S3 keys: %v", slices.Collect(maps.Keys(sec.StringData)))
	}
	secretEnv := []string{"QUIESCE_REPO_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
	// wantSecrets says which containers use the repository: not the
	// agent's thaw guard, which needs neither the repository nor the API.
	check := func(what string, spec corev1.PodSpec, wantSecrets func(container string) bool) {
		for _, c := range append(spec.InitContainers, spec.Containers...) {
			got := 0
			for _, e := range c.Env {
				if !slices.Contains(secretEnv, e.Name) {
					continue
				}
				got++
				if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "quiesce-repository" {
					t.Errorf("%s container %s: env %s = %+v, want only a secretKeyRef to quiesce-repository", what, c.Name, e.Name, e)
				}
			}
			if wantSecrets(c.Name) && got != len(secretEnv) {
				t.Errorf("%s container %s has %d of %v from the Secret", what, c.Name, got, secretEnv)
			}
			if !wantSecrets(c.Name) && got != 0 {
				t.Errorf("%s container %s gets repository credentials it does not use", what, c.Name)
			}
			for _, a := range append(slices.Clone(c.Command), c.Args...) {
				if strings.Contains(strings.ToLower(a), "password=") || strings.Contains(strings.ToLower(a), "secret-access-key=") {
					t.Errorf("%s container %s: argument %q carries a credential", what, c.Name, a)
				}
			}
		}
	}
	check("DaemonSet", decode[appsv1.DaemonSet](t, docs["DaemonSet"][0]).Spec.Template.Spec, func(c string) bool { return c != "guard" })
	for _, doc := range docs["CronJob"] {
		cj := decode[batchv1.CronJob](t, doc)
		check("CronJob "+cj.Name, cj.Spec.JobTemplate.Spec.Template.Spec, func(string) bool { return true })
	}
	for _, doc := range docs["Deployment"] {
		d := decode[appsv1.Deployment](t, doc)
		check("Deployment "+d.Name, d.Spec.Template.Spec, func(string) bool { return false }) // the exporter reads objects, not the repository
	}
}
