package agent

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// statusWriter mirrors pod results to NodeBackup status in the background.
// report never blocks and never fails: a pod's freeze and thaw do not wait
// on the API server. While the API server is away, the latest result of
// each pod is kept and written when it is back.
type statusWriter struct {
	client    client.Client
	namespace string
	log       *zap.Logger

	mu    sync.Mutex
	dirty map[string]map[string]api.PodResult // nodeBackup -> pod UID -> latest
	wake  chan struct{}
}

func newStatusWriter(c client.Client, namespace string, log *zap.Logger) *statusWriter {
	return &statusWriter{client: c, namespace: namespace, log: log, dirty: map[string]map[string]api.PodResult{}, wake: make(chan struct{}, 1)}
}

func (w *statusWriter) report(nodeBackup string, p api.PodResult) {
	w.mu.Lock()
	if w.dirty[nodeBackup] == nil {
		w.dirty[nodeBackup] = map[string]api.PodResult{}
	}
	w.dirty[nodeBackup][p.UID] = p
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes pending results until ctx ends, backing off while the API
// server fails.
func (w *statusWriter) run(ctx context.Context) {
	backoff := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		for !w.flush(ctx) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 30*time.Second)
		}
		backoff = time.Second
	}
}

// flush writes every pending NodeBackup; it reports whether all went.
func (w *statusWriter) flush(ctx context.Context) bool {
	w.mu.Lock()
	pending := w.dirty
	w.dirty = map[string]map[string]api.PodResult{}
	w.mu.Unlock()
	ok := true
	for nb, pods := range pending {
		err := w.write(ctx, nb, pods)
		if err == nil || apierrors.IsNotFound(err) {
			if err != nil {
				w.log.Warn("nodebackup gone; dropping its status", zap.String("nodeBackup", nb))
			}
			continue
		}
		ok = false
		w.log.Warn("status write failed; will retry", zap.String("nodeBackup", nb), zap.Error(err))
		w.mu.Lock()
		// Newer results that arrived meanwhile win over the ones that failed.
		if w.dirty[nb] == nil {
			w.dirty[nb] = map[string]api.PodResult{}
		}
		for uid, p := range pods {
			if _, newer := w.dirty[nb][uid]; !newer {
				w.dirty[nb][uid] = p
			}
		}
		w.mu.Unlock()
	}
	return ok
}

func (w *statusWriter) write(ctx context.Context, name string, pods map[string]api.PodResult) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var nb api.NodeBackup
		if err := w.client.Get(ctx, types.NamespacedName{Namespace: w.namespace, Name: name}, &nb); err != nil {
			return err
		}
		byUID := map[string]int{}
		for i, p := range nb.Status.Pods {
			byUID[p.UID] = i
		}
		for uid, p := range pods {
			if i, ok := byUID[uid]; ok {
				nb.Status.Pods[i] = p
			} else {
				nb.Status.Pods = append(nb.Status.Pods, p)
			}
		}
		nb.Status.Done = allFinal(&nb)
		return w.client.Status().Update(ctx, &nb)
	})
}

func allFinal(nb *api.NodeBackup) bool {
	final := map[string]bool{}
	for _, p := range nb.Status.Pods {
		final[p.UID] = p.Phase == api.PodCompleted || p.Phase == api.PodFailed || p.Phase == api.PodSkipped
	}
	for _, a := range nb.Spec.Pods {
		if !final[a.UID] {
			return false
		}
	}
	return true
}
