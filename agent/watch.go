package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/kwait"
)

// NodeBackupsSeen signals, coalesced and never blocking, each time one of
// node's NodeBackups is listed, added or changed, until ctx ends: the
// agent waiting for its repository looks again then (agentRepository).
func NodeBackupsSeen(ctx context.Context, c client.WithWatch, namespace, node string, log *zap.Logger) <-chan struct{} {
	seen := make(chan struct{}, 1)
	go listWatch(ctx, c, log, &api.NodeBackupList{}, func(runtime.Object) {
		select {
		case seen <- struct{}{}:
		default:
		}
	}, client.InNamespace(namespace), client.MatchingLabels{api.LabelNode: node})
	return seen
}

// listWatch calls handle with every object of list's kind that opts select,
// listed and then as it is added or changed, until ctx ends (kwait.Each: the
// watch resumes from the last version seen, a list is read only at the start
// and when that version has expired).
func listWatch(ctx context.Context, c client.WithWatch, log *zap.Logger, list client.ObjectList, handle func(runtime.Object), opts ...client.ListOption) {
	kwait.Each(ctx, &kwait.Backoff{Min: time.Second, Max: 30 * time.Second},
		func(ctx context.Context, version string) (watch.Interface, error) {
			from := &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: version, AllowWatchBookmarks: true}}
			return c.Watch(ctx, list, append(slices.Clone(opts), from)...)
		},
		func(ctx context.Context) ([]runtime.Object, string, error) {
			l := list.DeepCopyObject().(client.ObjectList)
			if err := c.List(ctx, l, opts...); err != nil {
				return nil, "", err
			}
			items, err := meta.ExtractList(l)
			return items, l.GetResourceVersion(), err
		},
		handle,
		func(err error, in time.Duration) {
			log.Warn("list/watch failed; retrying", zap.String("list", fmt.Sprintf("%T", list)), zap.Error(err), zap.Duration("in", in))
		})
}
