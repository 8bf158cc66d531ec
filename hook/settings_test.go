package hook

import (
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestBackupSettings(t *testing.T) {
	tests := []struct {
		name string
		ann  map[string]string
		want Settings
		errs []string
	}{
		{"none", nil, Settings{}, nil},
		{"group, order and max-freeze", map[string]string{AnnGroup: " shop ", AnnOrder: "2", AnnMaxFreeze: "90s",
			AnnBackupVolumes: "data", AnnVolumesExcludes: "cache"}, Settings{Group: "shop", Order: 2, MaxFreeze: 90 * time.Second}, nil},
		{"typos suggest the nearest key", map[string]string{
			"backup.quiesce.dev/grup": "shop", "backup.quiesce.dev/ordr": "1", "backup.quiesce.dev/max-freze": "1m",
		}, Settings{}, []string{
			`pod shop/db-0: annotation "backup.quiesce.dev/grup"="shop": unknown annotation key (did you mean "backup.quiesce.dev/group"?)`,
			`pod shop/db-0: annotation "backup.quiesce.dev/max-freze"="1m": unknown annotation key (did you mean "backup.quiesce.dev/max-freeze"?)`,
			`pod shop/db-0: annotation "backup.quiesce.dev/ordr"="1": unknown annotation key (did you mean "backup.quiesce.dev/order"?)`,
		}},
		{"an unrelated key lists the known ones", map[string]string{"backup.quiesce.dev/priority": "high"}, Settings{}, []string{
			`pod shop/db-0: annotation "backup.quiesce.dev/priority"="high": unknown annotation key (known keys under backup.quiesce.dev/: backup-volumes, backup-volumes-excludes, freeze, group, max-freeze, order)`,
		}},
		{"order not an integer", map[string]string{AnnGroup: "shop", AnnOrder: "abc"}, Settings{Group: "shop"}, []string{
			`pod shop/db-0: annotation "backup.quiesce.dev/order"="abc": not an integer (use e.g. "1"; lower orders freeze first)`,
		}},
		{"order without group", map[string]string{AnnOrder: "1"}, Settings{}, []string{
			`pod shop/db-0: annotation "backup.quiesce.dev/order"="1": set without "backup.quiesce.dev/group" (name the consistency group)`,
		}},
		{"max-freeze without a unit", map[string]string{AnnMaxFreeze: "300"}, Settings{}, []string{
			`pod shop/db-0: annotation "backup.quiesce.dev/max-freeze"="300": not a duration (use e.g. "300s")`,
		}},
		{"max-freeze zero", map[string]string{AnnMaxFreeze: "0s"}, Settings{}, []string{
			`pod shop/db-0: annotation "backup.quiesce.dev/max-freeze"="0s": zero duration (omit it for the default, or use a positive duration such as "30s")`,
		}},
		{"other domains are not ours to check", map[string]string{"backup.velero.io/backup-volumes": "data", "example.com/grup": "x"}, Settings{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BackupSettings(testPod(tt.ann))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("settings = %+v, want %+v", got, tt.want)
			}
			if errs := problemStrings(t, err); !reflect.DeepEqual(errs, tt.errs) {
				t.Errorf("problems:\n got  %q\n want %q", errs, tt.errs)
			}
		})
	}
}

func TestBackupSettingsFreeze(t *testing.T) {
	for _, c := range []struct {
		value, pause, err string
		fs                bool
	}{
		{value: "containers", pause: "db,exporter"},
		{value: " containers:exporter ", pause: "exporter"},
		{value: "containers:db, db", pause: "db"},
		{value: "filesystem", fs: true},
		{value: "containers:web", err: `annotation "backup.quiesce.dev/freeze"="containers:web": the pod has no container "web" (name one of its containers: db, exporter)`},
		{value: "container", err: `unknown freeze mode (use "containers" for all the pod's containers, "containers:NAME,...", or "filesystem" for its volumes' filesystems)`},
		{value: "filesystem:data", err: "unknown freeze mode"},
	} {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", Annotations: map[string]string{AnnFreeze: c.value}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db"}, {Name: "exporter"}}},
		}
		s, err := BackupSettings(pod)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want one containing %q", c.value, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.value, err)
		case c.err == "" && (strings.Join(s.Pause, ",") != c.pause || s.FreezeFilesystems != c.fs):
			t.Errorf("%q: pause %q filesystems %v, want %q %v", c.value, s.Pause, s.FreezeFilesystems, c.pause, c.fs)
		}
	}
}
