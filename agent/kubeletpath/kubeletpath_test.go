package kubeletpath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", UID: "uid-1"},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-db-0"}}},
			{Name: "inline", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "x"}}},
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}},
		}},
	}
}

func pv(name string, src corev1.PersistentVolumeSource) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: src}}
}

func TestCandidates(t *testing.T) {
	v := "/k/pods/uid-1/volumes/"
	for _, tc := range []struct {
		name    string
		ref     Ref
		want    []string
		wantErr string
	}{
		{"emptyDir", Ref{Volume: "scratch"}, []string{v + "kubernetes.io~empty-dir/scratch"}, ""},
		{"inline CSI", Ref{Volume: "inline"}, []string{v + "kubernetes.io~csi/inline/mount"}, ""},
		{"PVC, CSI PV", Ref{Volume: "data", PV: pv("pv-1", corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{}})},
			[]string{v + "kubernetes.io~csi/pv-1/mount"}, ""},
		{"PVC, local PV", Ref{Volume: "data", PV: pv("pv-2", corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/x"}})},
			[]string{v + "kubernetes.io~local-volume/pv-2"}, ""},
		{"PVC, hostPath PV", Ref{Volume: "data", PV: pv("pv-3", corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv/pv3"}})},
			[]string{"/srv/pv3"}, ""},
		{"PVC, PV name only", Ref{Volume: "data", PVName: "pv-4"},
			[]string{v + "kubernetes.io~csi/pv-4/mount", v + "kubernetes.io~local-volume/pv-4"}, ""},
		{"PVC without PV", Ref{Volume: "data"}, nil, `pod shop/db-0: volume "data" uses claim "data-db-0": the bound PersistentVolume's name is needed`},
		{"unknown volume", Ref{Volume: "nope"}, nil, `pod shop/db-0: no volume "nope" (volumes: cfg, data, inline, scratch)`},
		{"configMap", Ref{Volume: "cfg"}, nil, `pod shop/db-0: volume "cfg": volume type not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.ref.Root, tc.ref.Pod = "/k", testPod()
			got, err := Candidates(tc.ref)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want prefix %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("Candidates = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	ref := Ref{Root: root, Pod: testPod(), Volume: "data", PVName: "pv-4"}
	_, err := Resolve(ref)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "kubernetes.io~csi/pv-4/mount") ||
		!strings.Contains(err.Error(), "shop/db-0") {
		t.Fatalf("missing: %v", err)
	}
	csi := filepath.Join(root, "pods/uid-1/volumes/kubernetes.io~csi/pv-4/mount")
	if err := os.MkdirAll(csi, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := Resolve(ref); err != nil || got != csi {
		t.Fatalf("Resolve = %q, %v", got, err)
	}
	if err := os.MkdirAll(filepath.Join(root, "pods/uid-1/volumes/kubernetes.io~local-volume/pv-4"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(ref); !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("ambiguous: %v", err)
	}
}
