package render

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func dur(d time.Duration) metav1.Duration { return metav1.Duration{Duration: d} }

func TestBackupPod(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 11, 26, 2, 0, 0, 123000000, time.UTC))
	freeze, overhead := dur(2634512*time.Microsecond), dur(3210*time.Microsecond)
	captureErr := "read /var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/pv-1/mount/wal/000001: input/output error"
	p := api.PodResult{Namespace: "shop", Name: "db-0", UID: "u1", Node: "node-a", Phase: api.PodFailed,
		Reason:      "capture: volume wal: " + captureErr,
		FreezeStart: &start, Freeze: &freeze, ControlOverhead: &overhead,
		Hooks: []api.HookResult{
			{Name: "pg-freeze", Phase: "pre", Source: "annotation", Container: "db", Duration: dur(459123 * time.Microsecond), Output: "CHECKPOINT\n\n"},
			{Name: "pg-thaw", Phase: "post", Source: "annotation", Container: "db", Duration: dur(30 * time.Second), TimedOut: true,
				Error: "pod shop/db-0: post-hook pg-thaw (annotation) in container db: timed out after 30s"},
			{Name: "notify", Phase: "post", Container: "db", Skipped: true, Output: "when: OnSuccess"},
		},
		Volumes: []api.VolumeResult{
			{Name: "data", SnapshotID: "k1", Files: 120, Bytes: 3_400_000, UploadedBytes: 1_200_000, Capture: dur(2600 * time.Millisecond), Upload: dur(72 * time.Second)},
			{Name: "wal", Capture: dur(12 * time.Millisecond), Error: captureErr},
		}}
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"summary", Options{Indent: "  "}, `
  pod shop/db-0 on node node-a: Failed, frozen 2.6s (control overhead 3ms)
    reason: capture: volume wal: ` + captureErr + `
`},
		{"stored log", Options{Detail: Output, IDs: true}, `
pod shop/db-0 (uid u1) on node node-a: Failed, frozen 2.6s from 2026-11-26T02:00:00.123Z (control overhead 3ms)
  reason: capture: volume wal: ` + captureErr + `
  hook pre pg-freeze container=db exit 0 in 459ms (annotation)
    | CHECKPOINT
  hook post pg-thaw container=db timed out (see reason) in 30s (annotation)
    reason: pod shop/db-0: post-hook pg-thaw (annotation) in container db: timed out after 30s
  hook post notify container=db skipped in 0s
    | when: OnSuccess
  volume data: snapshot k1, 120 files, 3.4 MB (1.2 MB uploaded), capture 2.6s, upload 1m12s
  volume wal: snapshot -, 0 files, 0 B, capture 12ms, error (see reason)
`},
	} {
		var b strings.Builder
		BackupPod(&b, p, tc.o)
		if got := b.String(); got != tc.want[1:] {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, got, tc.want[1:])
		}
	}
}

func TestRestorePod(t *testing.T) {
	p := api.RestorePodResult{Namespace: "shop-copy", Name: "db-0", Phase: api.RestorePodPartiallyFailed,
		Reason: "post-restore hook migrate in container db: exit 3",
		Volumes: []api.VolumeRestoreResult{{Name: "data", SnapshotID: "k1", Files: 3, Bytes: 4096, Duration: dur(2 * time.Second)},
			{Name: "wal", SnapshotID: "k2", Error: "not restored: the restore's deadline passed"}},
		Hooks: []api.HookResult{{Name: "migrate", Phase: "post-restore", Container: "db", ExitCode: 3, Output: "relation missing\n",
			Duration: dur(1234 * time.Millisecond)}}}
	want := `pod shop-copy/db-0: PartiallyFailed
  reason: post-restore hook migrate in container db: exit 3
  volume data: snapshot k1, 3 files, 4.1 kB in 2s
  volume wal: snapshot k2, 0 files, 0 B in 0s, error (see reason)
    reason: not restored: the restore's deadline passed
  hook post-restore migrate container=db exit 3 in 1.2s
`
	var b strings.Builder
	RestorePod(&b, p, Options{Detail: Rows})
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
