package containerd

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// fakeProc writes a /proc with the given processes: pid -> (ppid, pid
// namespace, environment).
func fakeProc(t *testing.T, procs map[int]struct {
	ppid int
	ns   string
	env  string
}) {
	dir := t.TempDir()
	for pid, p := range procs {
		d := filepath.Join(dir, strconv.Itoa(pid))
		if err := os.MkdirAll(filepath.Join(d, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		stat := strconv.Itoa(pid) + " (a) odd) name) S " + strconv.Itoa(p.ppid) + " 1 1 0"
		os.WriteFile(filepath.Join(d, "stat"), []byte(stat), 0o644)
		os.WriteFile(filepath.Join(d, "environ"), []byte("PATH=/bin\x00"+p.env+"\x00"), 0o644)
		os.Symlink("pid:["+p.ns+"]", filepath.Join(d, "ns", "pid"))
	}
	old := procRoot
	procRoot = dir
	t.Cleanup(func() { procRoot = old })
}

func TestTreeMembers(t *testing.T) {
	const m = markerEnv + "=abc"
	fakeProc(t, map[int]struct {
		ppid int
		ns   string
		env  string
	}{
		1:   {0, "host", ""},
		100: {1, "ctr", ""},   // the container's init
		200: {150, "ctr", m},  // the exec'd command (its parent is the shim)
		201: {200, "ctr", m},  // its child
		202: {201, "ctr", ""}, // a grandchild that cleared its environment
		203: {100, "ctr", m},  // re-parented to init when its parent died
		300: {100, "ctr", ""}, // the application's own process
		400: {1, "other", m},  // same marker in another container: not ours
	})
	procs, err := listProcs()
	if err != nil {
		t.Fatal(err)
	}
	got := treeMembers(procs, 200, "abc", pidNamespace(100), map[int]bool{})
	slices.Sort(got)
	if want := []int{200, 201, 202, 203}; !slices.Equal(got, want) {
		t.Fatalf("tree = %v; want %v", got, want)
	}
	// After the main process exited: found by marker alone.
	got = treeMembers(procs, 0, "abc", pidNamespace(100), map[int]bool{})
	slices.Sort(got)
	if want := []int{200, 201, 202, 203}; !slices.Equal(got, want) {
		t.Fatalf("tree without root = %v; want %v", got, want)
	}
}

func TestReadPPidOddName(t *testing.T) {
	fakeProc(t, map[int]struct {
		ppid int
		ns   string
		env  string
	}{7: {42, "x", ""}})
	if ppid, ok := readPPid(7); !ok || ppid != 42 {
		t.Fatalf("readPPid = %d, %v; want 42", ppid, ok)
	}
}
