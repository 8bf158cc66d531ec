package hook

import (
	"reflect"
	"strings"
	"testing"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"
)

// Values that parse but could never work: each is an error naming the
// object, the key and the fix, at resolve time (and so in lint).
func TestUnusableValues(t *testing.T) {
	big := strings.Repeat("x", MaxAnnotationsBytes)
	tests := []struct {
		name    string
		ann     map[string]string
		restore bool
		want    []string
	}{
		{"NUL byte in a JSON command", map[string]string{
			"pre.hook.backup.velero.io/command": `["/bin/sh","-c","sync\u0000"]`,
		}, false, []string{
			`pod shop/db-0: annotation "pre.hook.backup.velero.io/command"="[\"/bin/sh\",\"-c\",\"sync\\u0000\"]": element [2] contains a NUL byte, which no process argument can hold (remove it; look for a "\u0000" or "\x00" escape)`,
		}},
		{"NUL byte in a one-word command", map[string]string{
			"pre.hook.backup.velero.io/command": "sync\x00",
		}, false, []string{
			`pod shop/db-0: annotation "pre.hook.backup.velero.io/command"="sync\x00": element [0] contains a NUL byte, which no process argument can hold (remove it; look for a "\u0000" or "\x00" escape)`,
		}},
		{"NUL byte in a list command", map[string]string{
			"post.hook.backup.quiesce.dev/hooks": `[{"command":["/bin/true","a\u0000b"]}]`,
		}, false, []string{
			`pod shop/db-0: annotation "post.hook.backup.quiesce.dev/hooks"[0].command: element [1] contains a NUL byte, which no process argument can hold (remove it; look for a "\u0000" or "\x00" escape)`,
		}},
		{"retries in the billions", map[string]string{
			"pre.hook.backup.quiesce.dev/command": "sync",
			"pre.hook.backup.quiesce.dev/retries": "1000000000",
		}, false, []string{
			`pod shop/db-0: annotation "pre.hook.backup.quiesce.dev/retries"="1000000000": more than 10 retries (use at most 10: each attempt may run for the hook's timeout while the application waits)`,
		}},
		{"retries in a list", map[string]string{
			"post.hook.restore.quiesce.dev/hooks": `- {command: [reindex], retries: 1000000000}`,
		}, true, []string{
			`pod shop/db-0: annotation "post.hook.restore.quiesce.dev/hooks"[0].retries="1000000000": more than 10 retries (use at most 10: each attempt may run for the hook's timeout while the application waits)`,
		}},
		{"retries at the bound", map[string]string{
			"pre.hook.backup.quiesce.dev/command": "sync",
			"pre.hook.backup.quiesce.dev/retries": "10",
		}, false, nil},
		{"init container name not a DNS-1123 label", map[string]string{
			"init.hook.restore.velero.io/container-image": "busybox:1.37",
			"init.hook.restore.velero.io/container-name":  "Restore_Init",
		}, true, []string{
			`pod shop/db-0: annotation "init.hook.restore.velero.io/container-name"="Restore_Init": not a valid container name: the API server would refuse the restored pod (use a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters (e.g. "restore-init"))`,
		}},
		{"annotations over 256 KiB", map[string]string{
			"pre.hook.backup.velero.io/command": `["/bin/sh","-c","` + big + `"]`,
			"app.example.com/owner":             "team-a",
		}, false, []string{
			`pod shop/db-0: annotation "pre.hook.backup.velero.io/command": value of 262163 bytes: the annotations total 262223 bytes, over Kubernetes' limit of 262144 (256 KiB), so the API server refuses the object (keep long scripts in the image or a mounted ConfigMap, and call them from a short command)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod(tt.ann)
			var err error
			if tt.restore {
				_, _, err = RestoreHooks(pod, nil)
			} else {
				_, _, err = BackupHooks(pod, nil)
			}
			if got := problemStrings(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestUnusableSpecInitContainer(t *testing.T) {
	spec := restoreSpec(t, `
resources:
- name: perms
  postHooks:
  - init: {initContainers: [{name: Fix_Perms, image: busybox, command: [chown, "1000\u0000", /data]}]}
`)
	err := ValidateRestoreHooks("restore velero/r1", spec)
	want := []string{
		`restore velero/r1: spec.hooks.resources[0].postHooks[0].init.initContainers[0].name="Fix_Perms": not a valid container name: the API server would refuse the restored pod (use a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters (e.g. "restore-init"))`,
		`restore velero/r1: spec.hooks.resources[0].postHooks[0].init.initContainers[0].command: element [1] contains a NUL byte, which no process argument can hold (remove it; look for a "\u0000" or "\x00" escape)`,
	}
	if got := problemStrings(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got  %q\n want %q", got, want)
	}
}

func TestMaxAnnotationsBytesIsKubernetes(t *testing.T) {
	if MaxAnnotationsBytes != apivalidation.TotalAnnotationSizeLimitB {
		t.Errorf("MaxAnnotationsBytes = %d, Kubernetes' TotalAnnotationSizeLimitB = %d", MaxAnnotationsBytes, apivalidation.TotalAnnotationSizeLimitB)
	}
}
