// Package kwait waits on Kubernetes objects the way every quiesce loop
// needs: open watches, read, and read again only when a watch reports
// something the read did not see. A watch opened without a resource version
// (or at "0") starts with an ADDED event of every existing object; waking on
// those would read in a hot loop for as long as the wait lasts.
package kwait

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// FromCache is the resource version watches should start at:
// "0" is served from the API server's watch cache at once, where a watch
// without one waits for the cache to be as fresh as etcd (and times out
// with an error when etcd reports no progress). The read after opening the
// watches is what must be fresh, and it is.
const FromCache = "0"

// errorBackoff spaces the rounds after a watch reports an error (the API
// server overloaded or restarting), so that errors cannot make a hot loop.
const errorBackoff = time.Second

// Seen holds the resource version of each object a read saw.
type Seen map[string]string

func seenKey(o metav1.Object) string {
	return o.GetNamespace() + "/" + o.GetName() + "/" + string(o.GetUID())
}

// Add records o as read at its resource version.
func (s Seen) Add(o metav1.Object) { s[seenKey(o)] = o.GetResourceVersion() }

// Until calls read until it reports done, reading again after every
// change the watches report. Each round opens the watches before read, so
// a change made between the read and the wait still wakes it. A watch
// starts with an ADDED event of every object that exists; those of objects
// read at the same version are not changes and do not wake it. It returns
// ctx's error when ctx ends first.
func Until(ctx context.Context, open func(context.Context) ([]watch.Interface, error), read func(context.Context) (bool, Seen, error)) error {
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
		ev := waitChange(ctx, ws, s)
		stopAll(ws)
		switch ev {
		case wokeByError:
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(errorBackoff):
			}
		case notWoken:
			return ctx.Err()
		}
	}
}

type wake int

const (
	notWoken wake = iota
	wokeByChange
	wokeByError
)

// waitChange blocks until one of the watches reports a change, an error or
// closes (timeout, compaction: read again), or ctx ends.
func waitChange(ctx context.Context, ws []watch.Interface, s Seen) wake {
	woke := make(chan wake, 1)
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
					why := wokeByChange
					if ok && ev.Type == watch.Error {
						why = wokeByError
					}
					select {
					case woke <- why:
					default:
					}
					return
				}
			}
		}(w.ResultChan())
	}
	select {
	case <-ctx.Done():
		return notWoken
	case why := <-woke:
		return why
	}
}

// news reports whether ev may show something the last read did not see.
func news(ev watch.Event, s Seen) bool {
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
