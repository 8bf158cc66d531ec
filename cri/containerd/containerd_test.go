package containerd_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/cri/containerd"
	"github.com/quiesce-dev/quiesce/cri/critest"
	"github.com/quiesce-dev/quiesce/internal/testenv"
)

// env is one containerd shared by the package's tests (started in
// TestMain when integration tests are on).
var env *testenv.Containerd

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int { return testenv.RunMain(m, "quiesce-containerd-", &env, noFIFOsLeft) }

// noFIFOsLeft: every exec's stdio FIFOs are removed when it is reaped.
func noFIFOsLeft(env *testenv.Containerd) error {
	if left, _ := os.ReadDir(env.FIFODir); len(left) > 0 {
		return fmt.Errorf("%d exec FIFO set(s) left in %s", len(left), env.FIFODir)
	}
	return nil
}

// setup returns a runtime on the shared containerd and a fresh pod.
func setup(t *testing.T, containers ...string) (*containerd.Runtime, *testenv.Pod) {
	t.Helper()
	testenv.Integration(t)
	if len(containers) == 0 {
		containers = []string{"app"}
	}
	spec := testenv.PodSpec{Namespace: "test", Name: strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))}
	for _, c := range containers {
		spec.Containers = append(spec.Containers, testenv.ContainerSpec{Name: c})
	}
	pod := env.RunPod(t, spec)
	rt, err := containerd.New(containerd.Options{Endpoint: env.Endpoint, FIFODir: env.FIFODir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt, pod
}

func ref(pod *testenv.Pod, container string) cri.ContainerRef {
	return cri.ContainerRef{PodUID: pod.UID, PodNamespace: pod.Namespace, PodName: pod.Name, Container: container}
}

// procs lists the command lines of the processes in a container (ps
// itself excluded).
func procs(t *testing.T, pod *testenv.Pod, container string) []string {
	out, _ := env.ExecSync(t, pod, container, "ps", "-o", "args")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		if !strings.HasPrefix(l, "ps ") {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}

func TestRuntimeSuite(t *testing.T) {
	critest.RuntimeSuite(t, func(t *testing.T) critest.Target {
		rt, pod := setup(t)
		return critest.Target{
			Runtime: rt,
			Running: ref(pod, "app"),
			Orphan: func(t *testing.T, cmd []string, held bool) {
				// Another runtime value stands for an agent process that
				// died while its command ran.
				earlier, err := containerd.New(containerd.Options{Endpoint: env.Endpoint, FIFODir: env.FIFODir})
				if err != nil {
					t.Fatal(err)
				}
				ctx := context.WithoutCancel(t.Context())
				if held {
					h, err := earlier.Hold(ctx, ref(pod, "app"), cmd, cri.HoldOptions{ReadyLine: "ready", ReadyTimeout: 10 * time.Second})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() {
						h.Release(ctx) // frees its FIFOs
						earlier.Close()
					})
					return
				}
				// Exec returns once the command is killed (by the reap).
				done := make(chan struct{})
				t.Cleanup(func() { <-done; earlier.Close() })
				marked := func() int { return strings.Count(strings.Join(procs(t, pod, "app"), "\n"), critest.ProcMarker) }
				before, deadline := marked(), time.Now().Add(10*time.Second)
				go func() { earlier.Exec(ctx, ref(pod, "app"), cmd, 0); close(done) }()
				for marked() < before+2 && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
				}
			},
			Stopped: func(t *testing.T) cri.ContainerRef {
				_, pod := setup(t, "stopped")
				env.StopContainer(t, pod, "stopped")
				return ref(pod, "stopped")
			},
			Procs:   func(t *testing.T) []string { return procs(t, pod, "app") },
			Timeout: 2 * time.Second,
			Slack:   3 * time.Second,
		}
	})
}
