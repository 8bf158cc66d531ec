package fake_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/cri/critest"
	"github.com/quiesce-dev/quiesce/cri/fake"
)

// suiteRuntime scripts the conformance suite's commands the way busybox
// runs them.
func suiteRuntime(ref cri.ContainerRef) *fake.Runtime {
	return fake.New().AddContainer(ref, true).
		Script(critest.CmdOutput, fake.Output(3, "out\n", "err\n")).
		Script(critest.CmdBigOutput, fake.Output(0, strings.Repeat("\x00", 100000), "")).
		Script(critest.CmdTree, fake.Hang()).
		Script(critest.CmdHold, func(ctx context.Context, s fake.Stdio) int {
			io.WriteString(s.Stdout, "ready\n")
			line, err := bufio.NewReader(s.Stdin).ReadString('\n')
			if err != nil {
				return 1
			}
			io.WriteString(s.Stdout, "got "+line)
			return 0
		}).
		Script(critest.CmdHoldForever, func(ctx context.Context, s fake.Stdio) int {
			io.WriteString(s.Stdout, "ready\n")
			<-ctx.Done()
			return -1
		})
}

func TestRuntimeSuite(t *testing.T) {
	ref := cri.ContainerRef{PodUID: "uid-1", PodNamespace: "shop", PodName: "db-0", Container: "db"}
	critest.RuntimeSuite(t, func(t *testing.T) critest.Target {
		rt := suiteRuntime(ref)
		return critest.Target{
			Runtime: rt,
			Running: ref,
			Orphan: func(t *testing.T, cmd []string, held bool) {
				if err := rt.Orphan(ref, cmd, held); err != nil {
					t.Fatal(err)
				}
			},
			Stopped: func(t *testing.T) cri.ContainerRef {
				stopped := ref
				stopped.Container = "stopped"
				rt.AddContainer(stopped, false)
				return stopped
			},
			Procs: func(t *testing.T) []string {
				synctest.Wait() // let killed programs finish
				var out []string
				for _, c := range rt.Live() {
					out = append(out, strings.ReplaceAll(c, "sh -c ", ""))
				}
				return out
			},
			Timeout: 30 * time.Second, // fake time: passes at once
			Slack:   time.Second,
			Run:     func(t *testing.T, f func(t *testing.T)) { synctest.Test(t, f) },
		}
	})
}

func TestNotRunningAndRecords(t *testing.T) {
	ref := cri.ContainerRef{PodUID: "u", PodNamespace: "ns", PodName: "p", Container: "c"}
	rt := fake.New().AddContainer(ref, false)
	_, err := rt.Exec(t.Context(), ref, []string{"true"}, time.Second)
	if !errors.Is(err, cri.ErrContainerNotRunning) {
		t.Fatalf("Exec in a stopped container: %v; want ErrContainerNotRunning", err)
	}
	rt.AddContainer(ref, true).Script([]string{"x"}, fake.Output(0, "hi", ""))
	if _, err := rt.Exec(t.Context(), ref, []string{"x"}, time.Second); err != nil {
		t.Fatal(err)
	}
	if rt.Ran([]string{"x"}) != 1 || len(rt.Calls()) != 1 || string(rt.Calls()[0].Result.Stdout) != "hi" {
		t.Fatalf("calls = %+v; want one run of x printing hi", rt.Calls())
	}
}
