package mountinfo

import (
	"errors"
	"strings"
	"testing"
)

// A container's view: the kubelet's pods directory bound in, a CSI volume
// bind-mounted under it, a path with a space, and a stacked mount.
const table = `1063 900 0:52 / / rw,relatime master:300 - overlay overlay rw,lowerdir=/l,upperdir=/u
1070 1063 8:1 /var/lib/quiesce-e2e/nodes/node-a/kubelet/pods /var/lib/kubelet/pods rw,relatime master:1 - ext4 /dev/sda1 rw
1071 1070 8:1 /var/lib/quiesce-csi/node-a/volumes/quiesce-csi-1 /var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/quiesce-csi-1/mount rw,relatime master:1 - ext4 /dev/sda1 rw
1072 1063 0:60 / /mnt/with\040space rw shared:7 master:2 - tmpfs tmp\040fs rw
1073 1063 0:61 / /stacked rw - tmpfs first rw
1074 1063 0:62 / /stacked rw - tmpfs second rw
`

func TestParse(t *testing.T) {
	tab, err := Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	if len(tab) != 6 {
		t.Fatalf("%d mounts, want 6", len(tab))
	}
	m := tab[2]
	if m.ID != 1071 || m.Parent != 1070 || m.FSType != "ext4" || m.Source != "/dev/sda1" ||
		m.Root != "/var/lib/quiesce-csi/node-a/volumes/quiesce-csi-1" || strings.Join(m.Optional, ",") != "master:1" {
		t.Errorf("line 3 = %+v", m)
	}
	sp := tab[3]
	if sp.MountPoint != "/mnt/with space" || sp.Source != "tmp fs" || len(sp.Optional) != 2 {
		t.Errorf("escaped line = %+v", sp)
	}
}

func TestIsMountPoint(t *testing.T) {
	tab, err := Parse(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/quiesce-csi-1/mount":  true,
		"/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/quiesce-csi-1/mount/": true, // cleaned
		"/var/lib/kubelet/pods/u1/volumes/kubernetes.io~csi/quiesce-csi-1":        false,
		"/var/lib/kubelet/pods/u2/volumes/kubernetes.io~csi/quiesce-csi-2/mount":  false,
		"/var/lib/kubelet/pods":  true,
		"/mnt/with space":        true,
		"/mnt/with\\040space":    false, // matched unescaped
		"/var/lib/kubelet/pods/": true,
	} {
		if got := tab.IsMountPoint(path); got != want {
			t.Errorf("IsMountPoint(%q) = %v, want %v", path, got, want)
		}
	}
	if m, _ := tab.Lookup("/stacked"); m.Source != "second" {
		t.Errorf("Lookup(/stacked) = %+v, want the later mount, which covers the first", m)
	}
}

func TestParseMalformed(t *testing.T) {
	for _, line := range []string{
		"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 ext3 /dev/root rw", // no separator
		"36 35 98:0 /mnt1 /mnt2 rw -",                                  // nothing after it
		"x 35 98:0 / / rw - ext4 /dev/root rw",                         // id
	} {
		_, err := Parse(strings.NewReader(line + "\n"))
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("Parse(%q) = %v, want ErrMalformed naming line 1", line, err)
		}
	}
}

func TestReadSelf(t *testing.T) {
	tab, err := Read(Self)
	if err != nil {
		t.Fatal(err)
	}
	if !tab.IsMountPoint("/") {
		t.Errorf("/ is not a mount point in %s", Self)
	}
}
