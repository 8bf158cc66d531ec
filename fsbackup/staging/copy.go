package staging

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// copyFile writes src to a temporary file next to dst (reflink first, then
// an in-kernel copy), sets owner, mode and times, and renames it over dst.
func copyFile(src, dst string, fi os.FileInfo, reflink bool) (cloned bool, err error) {
	in, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer in.Close()
	tmp := dst + tmpSuffix
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			_ = out.Close()
			_ = os.Remove(tmp)
		}
	}()
	if reflink && unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil {
		cloned = true
	} else if _, err = io.Copy(out, in); err != nil { // copy_file_range when it can
		return false, err
	}
	if err = out.Close(); err != nil {
		return false, err
	}
	if err = setMeta(tmp, fi); err != nil {
		return false, err
	}
	return cloned, os.Rename(tmp, dst)
}

// probeReflink tells whether FICLONE works from src's filesystem into dstDir.
func probeReflink(srcRoot string, e entry, dstDir string) bool {
	in, err := os.Open(filepath.Join(srcRoot, e.rel))
	if err != nil {
		return false
	}
	defer in.Close()
	out, err := os.CreateTemp(dstDir, ".reflink-probe-*")
	if err != nil {
		return false
	}
	defer os.Remove(out.Name())
	defer out.Close()
	return unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil
}

func syncSymlink(src, dst string, fi os.FileInfo) error {
	target, err := os.Readlink(src)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(dst); err != nil || cur != target {
		_ = os.Remove(dst)
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	}
	return setMeta(dst, fi)
}

// setMeta copies owner, permission bits and times from fi (chown first: it
// clears setuid bits). Symlinks get owner and times only.
func setMeta(p string, fi os.FileInfo) error {
	if fi == nil {
		return nil
	}
	st := fi.Sys().(*syscall.Stat_t)
	if err := os.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		if err := unix.Chmod(p, st.Mode&0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: p, Err: err}
		}
	}
	ts := []unix.Timespec{unix.NsecToTimespec(unix.TimespecToNsec(unix.Timespec(st.Atim))),
		unix.NsecToTimespec(fi.ModTime().UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: p, Err: err}
	}
	return nil
}

func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea == io.EOF || ea == io.ErrUnexpectedEOF {
			return eb == ea, nil
		}
		if ea != nil {
			return false, ea
		}
		if eb != nil {
			return false, eb
		}
	}
}
