package v1alpha1

import "testing"

// A value of the wrong type in a manifest is reported at its path, with
// indices, naming the object: the JSON decoder says neither (for an
// unquoted duration, not even which field).
func TestDecodeNamesTheField(t *testing.T) {
	tests := []struct {
		name, in, want string
		restore        bool
	}{
		{"unquoted timeout in a spec hook", `
apiVersion: velero.io/v1
kind: Backup
metadata: {name: nightly, namespace: velero}
spec:
  hooks:
    resources:
    - name: db
      pre:
      - exec: {container: db, command: [sync], timeout: 30s}
      - exec: {container: db, command: [sync], timeout: 30}
`, `backup velero/nightly: spec.hooks.resources[0].pre[1].exec.timeout=30: not a duration (write it quoted, with a unit: "30s")`, false},
		{"quoted timeout without a unit", `
apiVersion: velero.io/v1
kind: Schedule
metadata: {name: hourly, namespace: velero}
spec:
  template:
    hooks:
      resources:
      - name: db
        post:
        - exec: {command: [sync], timeout: "45"}
`, `schedule velero/hourly: spec.template.hooks.resources[0].post[0].exec.timeout="45": not a duration (use e.g. "45s")`, false},
		{"restore execTimeout", `
apiVersion: velero.io/v1
kind: Restore
metadata: {name: r1, namespace: velero}
spec:
  backupName: nightly
  hooks:
    resources:
    - postHooks:
      - exec: {command: [reindex], execTimeout: 2}
`, `restore velero/r1: spec.hooks.resources[0].postHooks[0].exec.execTimeout=2: not a duration (write it quoted, with a unit: "2s")`, true},
		{"other types are placed too", `
apiVersion: velero.io/v1
kind: Backup
metadata: {name: nightly, namespace: velero}
spec:
  includedNamespaces: shop
`, `backup velero/nightly: spec.includedNamespaces: a JSON string where a []string is expected (fix the value's type; quote it if it is a string)`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.restore {
				_, err = DecodeRestore([]byte(tt.in))
			} else {
				_, err = DecodeBackup([]byte(tt.in))
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v\nwant    %s", err, tt.want)
			}
		})
	}
}
