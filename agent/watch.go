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

	"github.com/quiesce-dev/quiesce/internal/kwait"
)

// listWatch calls handle with every object of list's kind that opts select,
// listed and then as it is added or changed, until ctx ends (kwait.Each).
func listWatch(ctx context.Context, c client.WithWatch, log *zap.Logger, list client.ObjectList, handle func(runtime.Object), opts ...client.ListOption) {
	kwait.Each(ctx, &kwait.Backoff{Min: time.Second, Max: 30 * time.Second},
		func(ctx context.Context) (watch.Interface, error) { return c.Watch(ctx, list, opts...) },
		func(ctx context.Context) ([]runtime.Object, error) {
			l := list.DeepCopyObject().(client.ObjectList)
			if err := c.List(ctx, l, opts...); err != nil {
				return nil, err
			}
			return meta.ExtractList(l)
		},
		handle,
		func(err error, in time.Duration) {
			log.Warn("list/watch failed; retrying", zap.String("list", fmt.Sprintf("%T", list)), zap.Error(err), zap.Duration("in", in))
		})
}
