package containerd

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/cri"
)

// Pause freezes the container's task (runc pause: the cgroup freezer). See
// cri.Pauser.
func (r *Runtime) Pause(ctx context.Context, ref cri.ContainerRef) error {
	return r.setPaused(ctx, ref, true)
}

// Resume thaws the container's task if it is paused. See cri.Pauser.
func (r *Runtime) Resume(ctx context.Context, ref cri.ContainerRef) error {
	return r.setPaused(ctx, ref, false)
}

func (r *Runtime) setPaused(ctx context.Context, ref cri.ContainerRef, pause bool) error {
	ctx = r.nsCtx(ctx)
	id, err := r.findContainer(ctx, ref) // a paused container is RUNNING to the CRI
	if err != nil {
		return err
	}
	c, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return r.containerErr(ref, id, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return r.containerErr(ref, id, err)
	}
	st, err := task.Status(ctx)
	if err != nil {
		return r.containerErr(ref, id, err)
	}
	switch {
	case pause && st.Status == containerd.Running:
		err = task.Pause(ctx)
	case !pause && (st.Status == containerd.Paused || st.Status == containerd.Pausing):
		err = task.Resume(ctx)
	case pause && st.Status == containerd.Paused, !pause && st.Status == containerd.Running:
		return nil // already as asked
	default:
		return fmt.Errorf("%s: container %s is %s, cannot %s it: %w", ref, id, st.Status, verb(pause), cri.ErrContainerNotRunning)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", verb(pause), r.containerErr(ref, id, err))
	}
	r.log.Debug("container "+verb(pause)+"d", zap.String("pod", ref.PodNamespace+"/"+ref.PodName), zap.String("container", ref.Container), zap.String("id", id))
	return nil
}

func verb(pause bool) string {
	if pause {
		return "pause"
	}
	return "resume"
}
