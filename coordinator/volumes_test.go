package coordinator

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testPod(ann map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", Annotations: ann},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-db-0"}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
			{Name: "kube-api-access-x", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
		}},
	}
}

func TestSelectVolumes(t *testing.T) {
	tests := []struct {
		name       string
		ann        map[string]string
		defaultAll bool
		want       []SelectedVolume
		problem    string
	}{
		{name: "no annotation, opt-in mode: nothing", want: []SelectedVolume{}},
		{name: "velero opt-in list", ann: map[string]string{AnnBackupVolumes: "data, scratch"},
			want: []SelectedVolume{{Name: "data", PVC: "data-db-0"}, {Name: "scratch"}}},
		{name: "ours wins over velero", ann: map[string]string{AnnBackupVolumes: "data", AnnOurBackupVolumes: "scratch"},
			want: []SelectedVolume{{Name: "scratch"}}},
		{name: "explicit config map is honoured", ann: map[string]string{AnnBackupVolumes: "config"},
			want: []SelectedVolume{{Name: "config"}}},
		{name: "unknown volume named", ann: map[string]string{AnnBackupVolumes: "data,dta"},
			want: []SelectedVolume{{Name: "data", PVC: "data-db-0"}}, problem: `lists volume "dta", which pod spec.volumes does not have (volumes: config, data, host, kube-api-access-x, scratch)`},
		{name: "hostPath refused", ann: map[string]string{AnnBackupVolumes: "host"},
			want: []SelectedVolume{}, problem: `hostPath volume "host"`},
		{name: "default all skips api and host volumes", defaultAll: true,
			want: []SelectedVolume{{Name: "data", PVC: "data-db-0"}, {Name: "scratch"}}},
		{name: "default all minus excludes", defaultAll: true, ann: map[string]string{AnnBackupVolumesExcludes: "scratch"},
			want: []SelectedVolume{{Name: "data", PVC: "data-db-0"}}},
		{name: "excluding an unknown volume is reported", defaultAll: true, ann: map[string]string{AnnBackupVolumesExcludes: "nope"},
			want: []SelectedVolume{{Name: "data", PVC: "data-db-0"}, {Name: "scratch"}}, problem: `excludes volume "nope"`},
		{name: "an explicit list wins over default all", defaultAll: true, ann: map[string]string{AnnBackupVolumes: "scratch"},
			want: []SelectedVolume{{Name: "scratch"}}},
		{name: "duplicates collapse", ann: map[string]string{AnnBackupVolumes: "data,data"},
			want: []SelectedVolume{{Name: "data", PVC: "data-db-0"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := selectVolumes(testPod(tc.ann), tc.defaultAll)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("volumes = %+v, want %+v", got, tc.want)
			}
			switch {
			case tc.problem == "" && len(problems) > 0:
				t.Errorf("unexpected problems: %q", problems)
			case tc.problem != "" && (len(problems) != 1 || !strings.Contains(problems[0], tc.problem)):
				t.Errorf("problems = %q, want one containing %q", problems, tc.problem)
			}
		})
	}
}
