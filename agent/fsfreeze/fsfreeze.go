// Package fsfreeze freezes and thaws a filesystem by one of its directories
// (the FIFREEZE and FITHAW ioctls, what fsfreeze(8) does): while frozen,
// writes to it block and what it holds on disk is consistent, so a copy
// taken meanwhile is a point in time. It is only for a volume that is its
// own filesystem: freezing the node's root or the kubelet's filesystem
// would freeze the node, so Check refuses those.
package fsfreeze

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The ioctls, _IOWR('X', 119 and 120, int) in linux/fs.h.
const (
	fifreeze = 0xC0045877
	fithaw   = 0xC0045878
)

// ErrSharedFilesystem: the directory is not the root of a filesystem of its
// own (an emptyDir, a hostPath, a volume on the node's disk).
var ErrSharedFilesystem = errors.New("not a filesystem of its own")

// FS freezes filesystems on a node. Guard lists directories whose
// filesystems must never be frozen (the kubelet's root, the node's root as
// the agent sees it, the agent's own state).
type FS struct {
	Guard []string
}

// Check refuses dir unless it is a mount point of a filesystem that none of
// the guarded directories is on.
func (f FS) Check(dir string) error {
	var st, parent unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("freeze %s: %w", dir, err)
	}
	if err := unix.Stat(filepath.Dir(filepath.Clean(dir)), &parent); err != nil {
		return fmt.Errorf("freeze %s: %w", dir, err)
	}
	if st.Dev == parent.Dev {
		return fmt.Errorf("freeze %s: it is a directory of its parent's filesystem, %w: freezing it would freeze everything on that filesystem (use freeze: containers, or a block-backed PersistentVolume)", dir, ErrSharedFilesystem)
	}
	for _, g := range f.Guard {
		var gs unix.Stat_t
		if err := unix.Stat(g, &gs); err != nil {
			continue // a guard that does not exist here guards nothing
		}
		if gs.Dev == st.Dev {
			return fmt.Errorf("freeze %s: it is on the same filesystem as %s, %w: freezing it would freeze the node (use freeze: containers)", dir, g, ErrSharedFilesystem)
		}
	}
	return nil
}

// Freeze freezes dir's filesystem after Check. Freezing a frozen one is
// not an error.
func (f FS) Freeze(dir string) error {
	if err := f.Check(dir); err != nil {
		return err
	}
	err := ioctl(dir, fifreeze, "FIFREEZE")
	if errors.Is(err, unix.EBUSY) {
		return nil // already frozen
	}
	return err
}

// Thaw thaws dir's filesystem. Thawing one that is not frozen is not an
// error, so a restarted agent can thaw whatever it may have frozen.
func (f FS) Thaw(dir string) error {
	err := ioctl(dir, fithaw, "FITHAW")
	if errors.Is(err, unix.EINVAL) {
		return nil // not frozen
	}
	return err
}

func ioctl(dir string, req uint, name string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.IoctlSetInt(int(d.Fd()), req, 0); err != nil {
		return fmt.Errorf("%s %s: %w", name, dir, err)
	}
	return nil
}
