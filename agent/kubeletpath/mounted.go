package kubeletpath

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrNotMounted: the volume's directory is there, but nothing is mounted on
// it in the reader's view: it is the empty directory under the mount, not
// the volume's data. Capturing it would record an empty snapshot as a
// success; restoring into it would hide the data under the real mount.
var ErrNotMounted = errors.New("volume directory is not a mount point")

// MountPoints tells whether a path is a mount point in the caller's view
// (mountinfo.Table).
type MountPoints interface {
	IsMountPoint(path string) bool
}

// Mounter kinds: who mounts a volume on its directory.
const (
	MountedByCSI   = "csi"          // a CSI driver's NodePublishVolume
	MountedByLocal = "local-volume" // the kubelet's bind mount of a local PV's path
)

// MountedBy names who mounts the volume on dir, a directory Candidates
// returned under root: MountedByCSI, MountedByLocal, or "" when dir holds
// the data itself (emptyDir, hostPath) and need not be a mount point.
func MountedBy(root, dir string) string {
	if root == "" {
		root = DefaultRoot
	}
	rel, err := filepath.Rel(filepath.Join(root, "pods"), filepath.Clean(dir))
	if err != nil || strings.HasPrefix(rel, "..") {
		return ""
	}
	// <uid>/volumes/<plugin>/<name>[/mount]
	p := strings.Split(rel, string(filepath.Separator))
	switch {
	case len(p) == 5 && p[1] == "volumes" && p[2] == PluginCSI && p[4] == "mount":
		return MountedByCSI
	case len(p) == 4 && p[1] == "volumes" && p[2] == PluginLocalVolume:
		return MountedByLocal
	}
	return ""
}

// CheckMounted decides whether dir, the volume's directory as Resolve found
// it, holds the volume's data: a directory a CSI driver or the kubelet
// mounts the volume on must be a mount point in the caller's view (dir
// itself or real, dir with its symbolic links resolved, as the mount table
// names canonical paths). It does no I/O.
func CheckMounted(r Ref, dir, real string, mounts MountPoints) error {
	by := MountedBy(r.Root, dir)
	if by == "" || mounts.IsMountPoint(dir) || (real != "" && mounts.IsMountPoint(real)) {
		return nil
	}
	who := "the CSI driver's"
	if by == MountedByLocal {
		who = "the kubelet's local volume"
	}
	return fmt.Errorf("pod %s: volume %q: %s: %w here, only the empty directory under the volume "+
		"(%s mount has not reached the agent: its mount propagation must be HostToContainer, chart value agent.mountPropagation; "+
		"or the volume is not mounted yet: retry once the pod runs)",
		r.pod(), r.Volume, dir, ErrNotMounted, who)
}

// Mounted is CheckMounted with dir's symbolic links resolved from the
// filesystem (a kubelet root under a link, e.g. /var/lib/kubelet ->
// /data/kubelet).
func Mounted(r Ref, dir string, mounts MountPoints) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		real = ""
	}
	return CheckMounted(r, dir, real, mounts)
}
