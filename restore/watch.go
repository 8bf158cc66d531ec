package restore

import (
	"context"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// seen holds the resource version of each object a read saw, by seenKey.
type seen map[string]string

func seenKey(o metav1.Object) string {
	return o.GetNamespace() + "/" + o.GetName() + "/" + string(o.GetUID())
}

func (s seen) add(o metav1.Object) { s[seenKey(o)] = o.GetResourceVersion() }

// waitFor calls read until it reports done, reading again after every
// change the watches report. Each round opens the watches before read, so
// a change made between the read and the wait still wakes it. A watch
// opened without a resource version starts with an ADDED event of every
// object that exists; those of objects read at the same version are not
// changes and do not wake it. It returns ctx's error when ctx ends first.
func waitFor(ctx context.Context, open func(context.Context) ([]watch.Interface, error), read func(context.Context) (bool, seen, error)) error {
	for {
		ws, err := open(ctx)
		if err != nil {
			return err
		}
		done, s, err := read(ctx)
		if err != nil || done {
			stopAll(ws)
			return err
		}
		woke := waitChange(ctx, ws, s)
		stopAll(ws)
		if !woke {
			return ctx.Err()
		}
	}
}

// waitChange blocks until one of the watches reports a change or closes
// (timeout, compaction: read again), or ctx ends (false).
func waitChange(ctx context.Context, ws []watch.Interface, s seen) bool {
	wake := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	for _, w := range ws {
		go func(events <-chan watch.Event) {
			for {
				select {
				case <-stop:
					return
				case ev, ok := <-events:
					if ok && !news(ev, s) {
						continue
					}
					select {
					case wake <- struct{}{}:
					default:
					}
					return
				}
			}
		}(w.ResultChan())
	}
	select {
	case <-ctx.Done():
		return false
	case <-wake:
		return true
	}
}

// news reports whether ev may show something the last read did not see.
func news(ev watch.Event, s seen) bool {
	switch ev.Type {
	case watch.Bookmark:
		return false
	case watch.Added:
		o, err := meta.Accessor(ev.Object)
		if err != nil {
			return true
		}
		rv, ok := s[seenKey(o)]
		return !ok || rv != o.GetResourceVersion()
	}
	return true
}

func stopAll(ws []watch.Interface) {
	for _, w := range ws {
		w.Stop()
	}
}
