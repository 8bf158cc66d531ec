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

// statusWriter mirrors pod results (R: a NodeBackup's or a NodeRestore's)
// to their object's status in the background. report never blocks and never
// fails: a pod's freeze and thaw do not wait on the API server. While the
// API server is away, the latest result of each pod is kept and written
// when it is back.
type statusWriter[R any] struct {
	kind string // for logs: "nodeBackup", "nodeRestore"
	log  *zap.Logger
	uid  func(R) string
	// every spaces the writes: results reported meanwhile are written
	// together, one write per object, so a node with hundreds of pods
	// changing phase costs a few writes a second, not one per change.
	every time.Duration
	// write merges results (by pod UID) into the named object's status.
	write func(ctx context.Context, name string, results map[string]R) error

	mu    sync.Mutex
	dirty map[string]map[string]R // object name -> pod UID -> latest
	wake  chan struct{}
}

func newResultWriter[R any](kind string, log *zap.Logger, uid func(R) string, write func(context.Context, string, map[string]R) error) *statusWriter[R] {
	return &statusWriter[R]{kind: kind, log: log, uid: uid, write: write, dirty: map[string]map[string]R{}, wake: make(chan struct{}, 1)}
}

// newStatusWriter writes NodeBackup status: compact results (the pod's log
// in the repository has its hook output), so the status stays bounded.
func newStatusWriter(c client.Client, namespace string, log *zap.Logger, every time.Duration) *statusWriter[api.PodResult] {
	// last is each NodeBackup as this writer last wrote it (written from
	// the writer's goroutine only): the next write starts from it, and
	// reads the object again only when it changed meanwhile (a conflict:
	// the coordinator moved a group gate).
	last := map[string]*api.NodeBackup{}
	w := newResultWriter("nodeBackup", log, func(p api.PodResult) string { return p.UID },
		func(ctx context.Context, name string, pods map[string]api.PodResult) error {
			compact := make(map[string]api.PodResult, len(pods))
			for uid, p := range pods {
				compact[uid] = p.Compact()
			}
			write := func(nb *api.NodeBackup) error {
				nb.Status.Pods = mergeByUID(nb.Status.Pods, compact, func(p api.PodResult) string { return p.UID })
				nb.Status.Done = allFinal(nb)
				if err := c.Status().Update(ctx, nb); err != nil {
					delete(last, name)
					return err
				}
				if nb.Status.Done {
					delete(last, name) // nothing more to write
				} else {
					last[name] = nb
				}
				return nil
			}
			if nb, ok := last[name]; ok {
				if err := write(nb.DeepCopy()); !apierrors.IsConflict(err) {
					return err
				}
			}
			return retry.RetryOnConflict(retry.DefaultRetry, func() error {
				var nb api.NodeBackup
				if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &nb); err != nil {
					return err
				}
				return write(&nb)
			})
		})
	w.every = every
	return w
}

// mergeByUID replaces or appends the results of pods in have.
func mergeByUID[R any](have []R, pods map[string]R, uid func(R) string) []R {
	byUID := map[string]int{}
	for i, p := range have {
		byUID[uid(p)] = i
	}
	for u, p := range pods {
		if i, ok := byUID[u]; ok {
			have[i] = p
		} else {
			have = append(have, p)
		}
	}
	return have
}

func (w *statusWriter[R]) report(name string, p R) {
	w.mu.Lock()
	if w.dirty[name] == nil {
		w.dirty[name] = map[string]R{}
	}
	w.dirty[name][w.uid(p)] = p
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// start writes in the background until the returned stop is called. stop
// waits for a write in flight, then writes what is left (within 10s), so
// results reported before it are not lost to a shutdown.
func (w *statusWriter[R]) start(ctx context.Context) (stop func()) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); w.run(wctx) }()
	return func() {
		cancel()
		<-done
		fctx, cancelFlush := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancelFlush()
		w.flush(fctx)
	}
}

// run writes pending results until ctx ends, backing off while the API
// server fails.
func (w *statusWriter[R]) run(ctx context.Context) {
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
		if w.every > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(w.every):
			}
		}
	}
}

// flush writes every pending object; it reports whether all went.
func (w *statusWriter[R]) flush(ctx context.Context) bool {
	w.mu.Lock()
	pending := w.dirty
	w.dirty = map[string]map[string]R{}
	w.mu.Unlock()
	ok := true
	for name, pods := range pending {
		err := w.write(ctx, name, pods)
		if err == nil || apierrors.IsNotFound(err) {
			if err != nil {
				w.log.Warn(w.kind+" gone; dropping its status", zap.String(w.kind, name))
			}
			continue
		}
		ok = false
		w.log.Warn("status write failed; will retry", zap.String(w.kind, name), zap.Error(err))
		w.mu.Lock()
		// Newer results that arrived meanwhile win over the ones that failed.
		if w.dirty[name] == nil {
			w.dirty[name] = map[string]R{}
		}
		for uid, p := range pods {
			if _, newer := w.dirty[name][uid]; !newer {
				w.dirty[name][uid] = p
			}
		}
		w.mu.Unlock()
	}
	return ok
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
