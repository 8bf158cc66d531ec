package kubeletpath

import (
	"errors"
	"strings"
	"testing"
)

type mountSet map[string]bool

func (m mountSet) IsMountPoint(p string) bool { return m[p] }

func TestMountedBy(t *testing.T) {
	const v = "/k/pods/uid-1/volumes/"
	for dir, want := range map[string]string{
		v + "kubernetes.io~csi/pv-1/mount":                       MountedByCSI,
		v + "kubernetes.io~csi/pv-1/mount/":                      MountedByCSI,
		v + "kubernetes.io~local-volume/pv-2":                    MountedByLocal,
		v + "kubernetes.io~empty-dir/scratch":                    "",
		v + "kubernetes.io~csi/pv-1":                             "",
		v + "kubernetes.io~csi/pv-1/mount/sub":                   "",
		"/srv/pv3":                                               "", // hostPath
		"/other/pods/uid-1/volumes/kubernetes.io~csi/pv-1/mount": "", // not under root
	} {
		if got := MountedBy("/k", dir); got != want {
			t.Errorf("MountedBy(%q) = %q, want %q", dir, got, want)
		}
	}
	if got := MountedBy("", "/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/pv/mount"); got != MountedByCSI {
		t.Errorf("default root: %q", got)
	}
}

func TestCheckMounted(t *testing.T) {
	const v = "/k/pods/uid-1/volumes/"
	csi, local, empty := v+"kubernetes.io~csi/pv-1/mount", v+"kubernetes.io~local-volume/pv-2", v+"kubernetes.io~empty-dir/scratch"
	for _, tc := range []struct {
		name, dir, real string
		mounts          mountSet
		wantErr         string
	}{
		{"CSI mounted", csi, "", mountSet{csi: true}, ""},
		{"CSI not mounted", csi, "", mountSet{}, "the CSI driver's mount"},
		{"local mounted", local, "", mountSet{local: true}, ""},
		{"local not mounted", local, "", mountSet{}, "the kubelet's local volume mount"},
		{"emptyDir needs no mount", empty, "", mountSet{}, ""},
		{"mounted under its real path", csi, "/data/kubelet/pods/uid-1/volumes/kubernetes.io~csi/pv-1/mount",
			mountSet{"/data/kubelet/pods/uid-1/volumes/kubernetes.io~csi/pv-1/mount": true}, ""},
		{"parent mounted only", csi, "", mountSet{"/k/pods": true, v + "kubernetes.io~csi/pv-1": true}, "the CSI driver's mount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckMounted(Ref{Root: "/k", Pod: testPod(), Volume: "data"}, tc.dir, tc.real, tc.mounts)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("error = %v", err)
				}
				return
			}
			if !errors.Is(err, ErrNotMounted) {
				t.Fatalf("error = %v, want ErrNotMounted", err)
			}
			// Names the pod, the volume, the path, who mounts it and the fix.
			for _, want := range []string{"pod shop/db-0", `volume "data"`, tc.dir, tc.wantErr, "agent.mountPropagation", "HostToContainer"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}
