package agent

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// listWatch calls handle with every object of list's kind that opts select,
// listed and then as it is added or changed, until ctx ends. It watches
// before it lists, so no change after the list is missed, and starts over
// with a backoff when the watch fails or closes.
func listWatch(ctx context.Context, c client.WithWatch, log *zap.Logger, list client.ObjectList, handle func(runtime.Object), opts ...client.ListOption) {
	backoff := time.Second
	for ctx.Err() == nil {
		w, err := c.Watch(ctx, list, opts...)
		if err == nil {
			l := list.DeepCopyObject().(client.ObjectList)
			if err = c.List(ctx, l, opts...); err == nil {
				var items []runtime.Object
				if items, err = meta.ExtractList(l); err == nil {
					backoff = time.Second
					for _, o := range items {
						handle(o)
					}
					drain(ctx, w, handle)
				}
			}
			w.Stop()
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("list/watch failed; retrying", zap.String("list", fmt.Sprintf("%T", list)), zap.Error(err), zap.Duration("in", backoff))
			sleep(ctx, backoff)
			backoff = min(2*backoff, 30*time.Second)
		}
	}
}

// drain handles watch events until the watch closes or ctx ends.
func drain(ctx context.Context, w watch.Interface, handle func(runtime.Object)) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				handle(ev.Object)
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
