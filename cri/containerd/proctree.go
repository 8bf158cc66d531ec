package containerd

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// A hook's process tree is found by walking /proc (the agent runs with
// hostPID, so it sees the container's processes under their host PIDs).
// Every exec'd command carries a unique marker variable in its environment,
// which its descendants inherit; the tree is the exec'd process, its
// descendants by parent PID, and every process in the container's PID
// namespace that carries the marker. The marker catches what the parent
// chain loses: a child that daemonized, or that was re-parented to the
// container's init when its parent died. The parent chain catches children
// that cleared their environment. Killing by cgroup instead would also hit
// processes the application itself forked meanwhile, which we must never
// touch.
//
// Killing is two-step: SIGSTOP every member, re-scanning until a pass finds
// no new member (a stopped process cannot fork, so the set converges), then
// SIGKILL them all. Killing one by one would let a parent's death re-parent
// its children before they are seen.

const markerEnv = "QUIESCE_HOOK_EXEC"

type procEntry struct {
	pid, ppid int
}

// procRoot is where the process table is read; a var for tests.
var procRoot = "/proc"

func listProcs() ([]procEntry, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return nil, err
	}
	out := make([]procEntry, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, ok := readPPid(pid)
		if !ok {
			continue // exited meanwhile
		}
		out = append(out, procEntry{pid: pid, ppid: ppid})
	}
	return out, nil
}

func readPPid(pid int) (int, bool) {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may contain spaces or ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

func pidNamespace(pid int) string {
	ns, _ := os.Readlink(procRoot + "/" + strconv.Itoa(pid) + "/ns/pid")
	return ns
}

func hasMarker(pid int, marker string) bool { return markerOf(pid) == marker }

// markerOf returns the value of markerEnv in a process's environment.
func markerOf(pid int) string {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	prefix := []byte(markerEnv + "=")
	for v := range bytes.SplitSeq(b, []byte{0}) {
		if m, ok := bytes.CutPrefix(v, prefix); ok {
			return string(m)
		}
	}
	return ""
}

// treeMembers returns the processes that belong to the exec'd command: see
// the comment at the top of this file. rootPID may be 0 (unknown or gone).
func treeMembers(procs []procEntry, rootPID int, marker, pidNS string, known map[int]bool) []int {
	children := map[int][]int{}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	alive := map[int]bool{}
	for _, p := range procs {
		alive[p.pid] = true
	}
	var seeds []int
	if rootPID > 0 && alive[rootPID] {
		seeds = append(seeds, rootPID)
	}
	for pid := range known {
		if alive[pid] {
			seeds = append(seeds, pid)
		}
	}
	if marker != "" {
		for _, p := range procs {
			if !known[p.pid] && hasMarker(p.pid, marker) && (pidNS == "" || pidNamespace(p.pid) == pidNS) {
				seeds = append(seeds, p.pid)
			}
		}
	}
	seen := map[int]bool{}
	var out []int
	for len(seeds) > 0 {
		pid := seeds[len(seeds)-1]
		seeds = seeds[:len(seeds)-1]
		if seen[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		seeds = append(seeds, children[pid]...)
	}
	return out
}

// killTree stops, then kills, the exec'd command's whole process tree and
// returns how many processes it killed.
func killTree(rootPID int, marker, pidNS string) (int, error) {
	members := map[int]bool{}
	for pass := 0; pass < 100; pass++ {
		procs, err := listProcs()
		if err != nil {
			return 0, err
		}
		added := false
		for _, pid := range treeMembers(procs, rootPID, marker, pidNS, members) {
			if !members[pid] {
				members[pid] = true
				added = true
				_ = syscall.Kill(pid, syscall.SIGSTOP)
			}
		}
		if !added {
			break
		}
	}
	var errs []error
	n := 0
	for pid := range members {
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			n++
		} else if !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	return n, errors.Join(errs...)
}
