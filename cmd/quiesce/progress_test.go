package main

import (
	"bytes"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

func TestBackupProgress(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *metav1.Time { tm := metav1.NewTime(t0.Add(d)); return &tm }
	now := t0.Add(41*time.Second + 300*time.Millisecond)
	vol := func(bytes int64, uploaded bool) api.VolumeResult {
		v := api.VolumeResult{Name: "data", Bytes: bytes}
		if uploaded {
			v.SnapshotID = "k1"
		}
		return v
	}
	pod := func(name string, phase api.PodPhase, start, end *metav1.Time, vols ...api.VolumeResult) api.PodResult {
		return api.PodResult{Namespace: "shop", Name: name, Phase: phase, FreezeStart: start, CompletionTime: end, Volumes: vols}
	}
	for _, tc := range []struct {
		name string
		b    api.Backup
		pods []api.PodResult // the NodeBackups'
		want string
	}{
		{"new", api.Backup{}, nil, "backup nightly-1: New"},
		{"planned", api.Backup{Status: api.BackupStatus{Phase: api.BackupPhaseInProgress, StartTimestamp: at(0),
			PodCounts: api.PodCounts{Total: 2, InProgress: 2}}},
			[]api.PodResult{pod("db-0", api.PodPending, nil, nil), pod("web-0", api.PodPending, nil, nil)},
			"backup nightly-1: InProgress  pods 0/2  elapsed 41.3s"},
		{"running: the pod that started first is the slowest, whatever its phase",
			api.Backup{Status: api.BackupStatus{Phase: api.BackupPhaseInProgress, StartTimestamp: at(0),
				PodCounts: api.PodCounts{Total: 4, InProgress: 2, Completed: 1, Skipped: 1}}},
			[]api.PodResult{
				pod("web-0", api.PodCompleted, at(time.Second), at(3*time.Second), vol(1_200_000, true)),
				pod("cache-0", api.PodCapturing, at(30*time.Second), nil),
				pod("db-0", api.PodUploading, at(2*time.Second), nil, vol(2_800_000, false)),
				pod("skipped", api.PodSkipped, nil, nil),
			},
			"backup nightly-1: InProgress  pods 2/4  uploaded 1.2 MB of 4.0 MB  slowest shop/db-0 (Uploading, 39.3s)  elapsed 41.3s"},
		{"final: elapsed and the slowest pod's time stop at completion",
			api.Backup{Status: api.BackupStatus{Phase: api.BackupPhaseCompleted, StartTimestamp: at(0), CompletionTimestamp: at(9 * time.Second),
				PodCounts: api.PodCounts{Total: 2, Completed: 2}}},
			[]api.PodResult{
				pod("web-0", api.PodCompleted, at(time.Second), at(1459*time.Millisecond), vol(1_200_000, true)),
				pod("db-0", api.PodCompleted, at(2*time.Second), at(8600*time.Millisecond), vol(2_800_000, true)),
			},
			"backup nightly-1: Completed  pods 2/2  uploaded 4.0 MB of 4.0 MB  slowest shop/db-0 (Completed, 6.6s)  elapsed 9s"},
	} {
		tc.b.Name = "nightly-1"
		if got := backupProgress(&tc.b, tc.pods).format(now); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestRestoreProgress(t *testing.T) {
	start := metav1.NewTime(time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC))
	r := &api.Restore{ObjectMeta: metav1.ObjectMeta{Name: "r1"}, Status: api.RestoreStatus{
		Phase: api.RestorePhaseInProgress, StartTimestamp: &start, Progress: api.RestoreProgress{TotalItems: 42, ItemsRestored: 40},
		Pods: []api.RestorePodResult{
			{Namespace: "shop", Name: "web-0", Phase: api.RestorePodCompleted, Volumes: []api.VolumeRestoreResult{{Bytes: 1_200_000}}},
			{Namespace: "shop", Name: "db-0", Phase: api.RestorePodRunningHooks},
			{Namespace: "shop", Name: "cache-0", Phase: api.RestorePodRestoringVolumes},
		}}}
	want := "restore r1: InProgress  objects 40/42  pods 1/3  restored 1.2 MB  slowest shop/cache-0 (RestoringVolumes)  elapsed 12s"
	if got := restoreProgress(r).format(start.Add(12 * time.Second)); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// The plain format prints a line when something but the time changed: a
// CI log gets one line per step, not one per second.
func TestProgressPrinterPlain(t *testing.T) {
	var out bytes.Buffer
	pp := newProgressPrinter(&out)
	if pp.tty {
		t.Fatal("a buffer is not a terminal")
	}
	now := time.Date(2026, 12, 1, 2, 0, 10, 0, time.UTC)
	pp.now = func() time.Time { return now }
	p := progress{kind: "backup", name: "b", phase: "InProgress", pods: 2, started: now.Add(-10 * time.Second)}
	pp.show(p)
	now = now.Add(time.Second)
	pp.show(p) // only the elapsed time moved
	p.podsDone = 1
	pp.show(p)
	want := "backup b: InProgress  pods 0/2  elapsed 10s\nbackup b: InProgress  pods 1/2  elapsed 11s\n"
	if out.String() != want {
		t.Errorf("printed\n%s\nwant\n%s", out.String(), want)
	}
}
