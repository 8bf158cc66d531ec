package coordinator

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

func TestFreezeOf(t *testing.T) {
	for _, c := range []struct {
		value, pause, volumes, err string
		scratch                    bool
		warnings                   int
	}{
		{value: "containers", pause: "db,exporter", warnings: 1},
		{value: " containers:exporter ", pause: "exporter"},
		{value: "containers:db, db", pause: "db", warnings: 1},
		{value: "containers:web", err: `annotation "backup.quiesce.dev/freeze"="containers:web": the pod has no container "web" (its containers: db, exporter)`},
		{value: "filesystem", volumes: "data,wal"},
		{value: "filesystem", scratch: true, err: `volume "scratch" is not a PersistentVolumeClaim, so it shares the node's filesystem and freezing it would freeze the node`},
		{value: "container", err: `unknown freeze mode (use "containers" for all the pod's containers, "containers:NAME,...", or "filesystem" for its volumes' filesystems)`},
	} {
		vols := []SelectedVolume{{Name: "data", PVC: "data-db-0"}, {Name: "wal", PVC: "wal-db-0"}}
		if c.scratch {
			vols = append(vols, SelectedVolume{Name: "scratch"})
		}
		fz, warnings, err := freezeOf(freezePod(c.value), time.Minute, vols)
		pause := fz.pause
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want one containing %q", c.value, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.value, err)
		case strings.Join(pause, ",") != c.pause || strings.Join(fz.volumes, ",") != c.volumes || len(warnings) != c.warnings:
			t.Errorf("%q: pause %q volumes %q warnings %q, want %q, %q and %d warning(s)", c.value, pause, fz.volumes, warnings, c.pause, c.volumes, c.warnings)
		}
	}
	// db's probe fails after 5s × 3: a 15s max freeze fits, 16s does not.
	if _, w, _ := freezeOf(freezePod("containers:db"), 15*time.Second, nil); len(w) != 0 {
		t.Errorf("warned for a max freeze within the probe's window: %q", w)
	}
	_, w, _ := freezeOf(freezePod("containers:db"), 16*time.Second, nil)
	if len(w) != 1 || !strings.Contains(w[0], `container "db" is paused during the backup for up to 16s (max freeze), but its liveness probe fails after 15s`) {
		t.Errorf("warnings %q", w)
	}
	if fz, _, err := freezeOf(&corev1.Pod{}, time.Minute, nil); fz.pause != nil || fz.volumes != nil || err != nil {
		t.Errorf("no annotation: %+v, %v", fz, err)
	}
}
