package containerd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/cri"
)

// holdPrefix starts the marker (and so the exec ID) of held commands.
const holdPrefix = "hold-"

func (r *Runtime) track(marker string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if on {
		r.active[marker] = true
	} else {
		delete(r.active, marker)
	}
}

func (r *Runtime) isActive(marker string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active[marker]
}

// ReapOrphans kills the hook commands another process left in the
// container. See cri.Reaper. They are found by the marker in their
// environment, which outlives the agent process that started them; their
// exec records are then deleted from containerd by ID ("quiesce-" + marker).
func (r *Runtime) ReapOrphans(ctx context.Context, ref cri.ContainerRef) (int, error) {
	ctx = r.nsCtx(ctx)
	id, err := r.findContainer(ctx, ref)
	if err != nil {
		return 0, err
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return 0, r.containerErr(ref, id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return 0, r.containerErr(ref, id, err)
	}
	if task.Pid() == 0 {
		// containerd answers with no init process when the container's
		// shim does not answer in time: a client that died mid-exec-start
		// leaves a containerd 1.6 shim blocked for ~30s. Worth a retry.
		return 0, fmt.Errorf("%s: the runtime reported no init process (its shim is not answering): %w", ref, cri.ErrUnavailable)
	}
	ns := pidNamespace(int(task.Pid()))
	if ns == "" {
		return 0, fmt.Errorf("%s: read the PID namespace of its init (pid %d): the agent needs hostPID and root", ref, task.Pid())
	}
	procs, err := listProcs()
	if err != nil {
		return 0, fmt.Errorf("%s: list processes: %w", ref, err)
	}
	markers := map[string]bool{}
	for _, p := range procs {
		if m := markerOf(p.pid); m != "" && !r.isActive(m) && pidNamespace(p.pid) == ns {
			markers[m] = true
		}
	}
	killed := 0
	var errs []error
	for m := range markers {
		n, err := killTree(0, m, ns)
		killed += n
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: kill orphaned hook command %s: %w", ref, m, err))
		}
		r.log.Info("killed an orphaned hook command", zap.String("pod", ref.PodNamespace+"/"+ref.PodName),
			zap.String("podUID", ref.PodUID), zap.String("container", ref.Container), zap.String("execID", "quiesce-"+m), zap.Int("processes", n))
		// Reap its exec record, once the shim has seen it exit.
		if p, err := task.LoadProcess(ctx, "quiesce-"+m, nil); err == nil {
			wctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
			if st, err := p.Wait(wctx); err == nil {
				select {
				case <-st:
				case <-time.After(cleanupTimeout):
				}
			}
			if _, err := p.Delete(wctx); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("%s: delete exec process quiesce-%s: %w", ref, m, grpcKind(err)))
			}
			cancel()
		}
	}
	return killed, errors.Join(errs...)
}
