package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// Images the test containerd has imported.
const (
	// BusyboxImage is Debian's busybox-static as an image (hack/images/busybox.sh).
	BusyboxImage = "docker.io/library/busybox:local"
	// PauseImage is busybox sleeping forever: the pod sandbox image, since
	// the real pause image would need a registry.
	PauseImage = "docker.io/library/pause:local"
)

// imageArchives builds (once per machine, shared by every test package
// under a lock) OCI archives of BusyboxImage and PauseImage and returns
// their paths.
func imageArchives() ([]string, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(os.TempDir(), "quiesce-testenv-images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	busybox, pause := filepath.Join(dir, "busybox.tar"), filepath.Join(dir, "pause.tar")
	if fresh(busybox, filepath.Join(root, "hack/images/busybox.sh")) && fresh(pause, busybox) {
		return []string{busybox, pause}, nil
	}
	script := filepath.Join(root, "hack/images/busybox.sh")
	if out, err := exec.Command(script, busybox+".tmp", BusyboxImage).CombinedOutput(); err != nil {
		return nil, errf("build busybox image with %s: %v\n%s", script, err, out)
	}
	bh := "buildah --storage-driver vfs"
	sh := `set -e
c=$(` + bh + ` from ` + BusyboxImage + `)
trap '` + bh + ` rm "$c" >/dev/null' EXIT
` + bh + ` config --cmd '["/bin/sleep","2147483647"]' "$c"
` + bh + ` commit -q "$c" ` + PauseImage + ` >/dev/null
rm -f "$1"
` + bh + ` push -q ` + PauseImage + ` "oci-archive:$1:` + PauseImage + `"`
	if out, err := exec.Command("bash", "-c", sh, "pause", pause+".tmp").CombinedOutput(); err != nil {
		return nil, errf("build pause image with buildah: %v\n%s", err, out)
	}
	for _, f := range []string{busybox, pause} {
		if err := os.Rename(f+".tmp", f); err != nil {
			return nil, err
		}
	}
	return []string{busybox, pause}, nil
}

// buildFlock builds the static flock helper (./flock) into dir and returns
// its path.
func buildFlock(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "flock")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goBin, "build", "-o", out, "./internal/testenv/flock")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", errf("build the flock helper: %v\n%s", err, b)
	}
	return out, nil
}

// fresh says file exists and is newer than dep.
func fresh(file, dep string) bool {
	f, err := os.Stat(file)
	if err != nil {
		return false
	}
	d, err := os.Stat(dep)
	return err == nil && f.ModTime().After(d.ModTime())
}
