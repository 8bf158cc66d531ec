package coordinator

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/quiesce-dev/quiesce/hook"
)

func freezePod(value string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", Annotations: map[string]string{AnnFreeze: value}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "db", LivenessProbe: &corev1.Probe{PeriodSeconds: 5}},
			{Name: "exporter"},
		}},
	}
}

// freezeOf turns the pod's freeze settings into the assignment's lists: a
// filesystem freeze only of claims, a warning for a liveness probe that
// would fail while paused.
func TestFreezeOf(t *testing.T) {
	pod := freezePod("")
	vols := []SelectedVolume{{Name: "data", PVC: "data-db-0"}, {Name: "wal", PVC: "wal-db-0"}}
	fz, _, err := freezeOf(pod, hook.Settings{FreezeFilesystems: true}, time.Minute, vols)
	if err != nil || strings.Join(fz.volumes, ",") != "data,wal" || fz.pause != nil {
		t.Errorf("filesystem: %+v, %v; want data and wal", fz, err)
	}
	_, _, err = freezeOf(pod, hook.Settings{FreezeFilesystems: true}, time.Minute, append(vols, SelectedVolume{Name: "scratch"}))
	if err == nil || !strings.Contains(err.Error(), `volume "scratch" is not a PersistentVolumeClaim, so it shares the node's filesystem and freezing it would freeze the node`) {
		t.Errorf("filesystem with an emptyDir: %v", err)
	}
	if _, _, err := freezeOf(pod, hook.Settings{FreezeFilesystems: true}, time.Minute, nil); err == nil || !strings.Contains(err.Error(), "backs up no volume to freeze") {
		t.Errorf("filesystem without volumes: %v", err)
	}
	// db's probe fails after 5s × 3: a 15s max freeze fits, 16s does not;
	// the exporter has no probe.
	set := hook.Settings{Pause: []string{"db", "exporter"}}
	if fz, w, _ := freezeOf(pod, set, 15*time.Second, nil); len(w) != 0 || strings.Join(fz.pause, ",") != "db,exporter" {
		t.Errorf("15s: pause %q, warnings %q", fz.pause, w)
	}
	_, w, _ := freezeOf(pod, set, 16*time.Second, nil)
	if len(w) != 1 || !strings.Contains(w[0], `container "db" is paused during the backup for up to 16s (max freeze), but its liveness probe fails after 15s`) {
		t.Errorf("warnings %q", w)
	}
}
