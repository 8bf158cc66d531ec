package testcsi

import (
	"os"
	"path/filepath"
	"testing"
)

// SysMounter on the real mount table: a read-only bind at a target is a
// mount point that refuses writes, and is gone after Unmount (twice is
// fine). Root only; make test sets QUIESCE_INTEGRATION=1.
func TestSysMounterBind(t *testing.T) {
	if os.Getenv("QUIESCE_INTEGRATION") != "1" || os.Geteuid() != 0 {
		t.Skip("needs root and QUIESCE_INTEGRATION=1 (mounts in the host's namespace)")
	}
	dir := t.TempDir()
	src, target := filepath.Join(dir, "vol"), filepath.Join(dir, "pods/u1/volumes/kubernetes.io~csi/v1/mount")
	for _, d := range []string{src, target} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	var m SysMounter
	if err := m.Bind(src, target, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Unmount(target) })
	if ok, err := m.IsMountPoint(target); err != nil || !ok {
		t.Fatalf("IsMountPoint(target) = %v, %v after the bind", ok, err)
	}
	if b, err := os.ReadFile(filepath.Join(target, "f")); err != nil || string(b) != "data" {
		t.Errorf("read through the bind: %q, %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(target, "g"), nil, 0o644); err == nil {
		t.Errorf("write through a read-only bind succeeded")
	}
	for range 2 {
		if err := m.Unmount(target); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := m.IsMountPoint(target); ok {
		t.Errorf("still a mount point after Unmount")
	}
}
