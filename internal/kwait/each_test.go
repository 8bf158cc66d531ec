package kwait

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

func TestBackoffDoublesUpToMaxAndResets(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 5 * time.Second}
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != time.Second {
		t.Errorf("after Reset: %v, want %v", d, time.Second)
	}
}

// Retry retries what fails, stops at a Permanent error and returns it
// unwrapped, so callers can test it with errors.Is.
func TestRetryStopsAtPermanent(t *testing.T) {
	gone := errors.New("gone")
	var attempts int
	var retried []error
	err := Retry(t.Context(), &Backoff{Min: time.Millisecond, Max: time.Millisecond}, func(context.Context) error {
		attempts++
		if attempts < 3 {
			return errors.New("connection refused")
		}
		return Permanent(gone)
	}, func(err error, _ time.Duration) { retried = append(retried, err) })
	if err != gone {
		t.Fatalf("Retry = %v, want the permanent error itself", err)
	}
	if attempts != 3 || len(retried) != 2 {
		t.Errorf("%d attempts, %d retries; want 3 and 2", attempts, len(retried))
	}
}

// Each delivers the listed objects, then the watched ones; when the watch
// closes it opens a new one and lists again at once; when the list fails it
// retries after the backoff and reports the failure.
func TestEachListsThenWatchesAndStartsOver(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got []string
	var watchers []*watch.FakeWatcher
	var lists int
	open := func(context.Context) (watch.Interface, error) {
		w := watch.NewFakeWithChanSize(4, false)
		mu.Lock()
		watchers = append(watchers, w)
		mu.Unlock()
		return w, nil
	}
	list := func(context.Context) ([]runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		lists++
		switch lists {
		case 1:
			w := watchers[0]
			w.Modify(pod("6")) // a change after the list
			w.Stop()           // then the watch closes: start over
			return []runtime.Object{pod("5")}, nil
		case 2:
			return nil, errors.New("etcd leader changed")
		default:
			cancel()
			return []runtime.Object{pod("7")}, nil
		}
	}
	var failures int
	Each(ctx, &Backoff{Min: time.Millisecond, Max: time.Millisecond}, open, list,
		func(o runtime.Object) {
			mu.Lock()
			got = append(got, o.(interface{ GetResourceVersion() string }).GetResourceVersion())
			mu.Unlock()
		},
		func(error, time.Duration) { failures++ })
	if want := "5 6 7"; strings.Join(got, " ") != want {
		t.Errorf("handled versions %q, want %q", strings.Join(got, " "), want)
	}
	if failures != 1 || lists != 3 {
		t.Errorf("%d failures reported over %d lists, want 1 over 3", failures, lists)
	}
}
