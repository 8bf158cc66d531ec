package charttest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestChartS3 checks that an S3 repository with a private CA reaches every
// container that opens the repository: the endpoint, bucket and prefix as
// flags, the keys from the named Secret, and the CA mounted read-only and
// passed as --s3-ca-file. The thaw guard gets none of it.
func TestChartS3(t *testing.T) {
	for _, ca := range []struct{ kind, set string }{{"configMap", "repository.s3.ca.configMap=s3-ca"}, {"secret", "repository.s3.ca.secret=s3-ca"}} {
		t.Run(ca.kind, func(t *testing.T) {
			docs, err := render(t, "--set", "repository.password=pw", "--set", "repository.type=s3",
				"--set", "repository.s3.endpoint=seaweedfs.s3.svc:8333", "--set", "repository.s3.bucket=backups",
				"--set", "repository.s3.prefix=cluster-a/", "--set", "repository.s3.credentialsSecret=s3-keys",
				"--set", ca.set, "--set", "repository.s3.ca.key=root.pem")
			if err != nil {
				t.Fatal(err)
			}
			wantArgs := []string{"--s3-endpoint=seaweedfs.s3.svc:8333", "--s3-bucket=backups", "--s3-prefix=cluster-a/",
				"--s3-ca-file=/etc/quiesce-s3-ca/root.pem"}
			check := func(what string, spec corev1.PodSpec, opens func(container string) bool) {
				t.Helper()
				var vol *corev1.Volume
				for i := range spec.Volumes {
					if spec.Volumes[i].Name == "s3-ca" {
						vol = &spec.Volumes[i]
					}
				}
				var src string
				var items []corev1.KeyToPath
				switch {
				case vol == nil:
					t.Fatalf("%s: no s3-ca volume", what)
				case vol.ConfigMap != nil:
					src, items = "configMap/"+vol.ConfigMap.Name, vol.ConfigMap.Items
				case vol.Secret != nil:
					src, items = "secret/"+vol.Secret.SecretName, vol.Secret.Items
				}
				if src != ca.kind+"/s3-ca" || len(items) != 1 || items[0].Key != "root.pem" || items[0].Path != "root.pem" {
					t.Errorf("%s: s3-ca volume is %s %+v, want %s/s3-ca with the key root.pem", what, src, items, ca.kind)
				}
				for _, c := range spec.Containers {
					mounted := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
						return m.Name == "s3-ca" && m.MountPath == "/etc/quiesce-s3-ca" && m.ReadOnly
					})
					keyRef := ""
					for _, e := range c.Env {
						if e.Name == "AWS_SECRET_ACCESS_KEY" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
							keyRef = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
						}
					}
					if !opens(c.Name) {
						if mounted || keyRef != "" {
							t.Errorf("%s container %s gets the S3 CA or keys it does not use", what, c.Name)
						}
						continue
					}
					if !mounted {
						t.Errorf("%s container %s does not mount the CA read-only at /etc/quiesce-s3-ca", what, c.Name)
					}
					if keyRef != "s3-keys/aws-secret-access-key" {
						t.Errorf("%s container %s: AWS_SECRET_ACCESS_KEY from %q, want s3-keys/aws-secret-access-key", what, c.Name, keyRef)
					}
					for _, a := range wantArgs {
						if !slices.Contains(c.Args, a) {
							t.Errorf("%s container %s lacks %s: %v", what, c.Name, a, c.Args)
						}
					}
				}
			}
			check("DaemonSet", decode[appsv1.DaemonSet](t, docs["DaemonSet"][0]).Spec.Template.Spec, func(c string) bool { return c != "guard" })
			for _, doc := range docs["CronJob"] {
				cj := decode[batchv1.CronJob](t, doc)
				check("CronJob "+cj.Name, cj.Spec.JobTemplate.Spec.Template.Spec, func(string) bool { return true })
			}
		})
	}
}

// TestChartS3Refuses: settings that could never work fail the render with
// the value to fix.
func TestChartS3Refuses(t *testing.T) {
	base := []string{"--set", "repository.password=pw", "--set", "repository.type=s3"}
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"repository.s3.bucket=b"}, "repository.s3.endpoint"},
		{[]string{"repository.s3.endpoint=https://s3.example", "repository.s3.bucket=b"}, "without a scheme"},
		{[]string{"repository.s3.endpoint=s3.example", "repository.s3.bucket=b"}, "repository.s3.credentialsSecret"},
		{[]string{"repository.s3.endpoint=s3.example", "repository.s3.bucket=b", "repository.s3.credentialsSecret=k",
			"repository.s3.ca.configMap=a", "repository.s3.ca.secret=b"}, "not both"},
		{[]string{"repository.s3.endpoint=s3.example", "repository.s3.bucket=b", "repository.s3.credentialsSecret=k",
			"repository.s3.ca.configMap=a", "repository.s3.insecure=true"}, "contradict"},
		{[]string{"repository.type=nfs"}, "use filesystem or s3"},
	} {
		args := slices.Clone(base)
		for _, s := range tc.set {
			args = append(args, "--set", s)
		}
		_, err := render(t, args...)
		var re *renderError
		if !errors.As(err, &re) || !strings.Contains(re.stderr, tc.want) {
			t.Errorf("render %v: want an error naming %q, got %v", tc.set, tc.want, err)
		}
	}
}
