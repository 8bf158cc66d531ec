package testcsi

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/quiesce-dev/quiesce/internal/mountinfo"
)

// Mounter is the node's mount table as the driver changes it.
type Mounter interface {
	// Bind mounts src on target, read-only if asked.
	Bind(src, target string, readOnly bool) error
	Unmount(target string) error
	IsMountPoint(path string) (bool, error)
}

// SysMounter mounts with mount(2) in the driver's mount namespace, whose
// mounts under the kubelet's directory propagate to the node
// (Bidirectional).
type SysMounter struct{}

// Bind implements Mounter. A read-only bind needs a second call: the
// kernel ignores MS_RDONLY on the first.
func (SysMounter) Bind(src, target string, readOnly bool) error {
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", src, target, err)
	}
	if !readOnly {
		return nil
	}
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		_ = unix.Unmount(target, 0)
		return fmt.Errorf("remount %s read-only: %w", target, err)
	}
	return nil
}

// Unmount implements Mounter; a path with nothing mounted is a success.
func (SysMounter) Unmount(target string) error {
	err := unix.Unmount(target, 0)
	if err == nil || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return fmt.Errorf("unmount %s: %w", target, err)
}

// IsMountPoint implements Mounter from the driver's own mount table.
func (SysMounter) IsMountPoint(path string) (bool, error) {
	t, err := mountinfo.Read(mountinfo.Self)
	if err != nil {
		return false, err
	}
	return t.IsMountPoint(path), nil
}
