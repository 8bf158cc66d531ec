package kwait

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// Each lists once, then watches from the list's version; a closed watch is
// opened again from the last version seen, without a list (a bookmark
// counts); an expired version makes it list again, after the backoff, and a
// failed list is retried and reported.
func TestEachResumesWatchesAndListsOnlyWhenExpired(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var got, opened []string
	var lists int
	open := func(_ context.Context, version string) (watch.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		opened = append(opened, version)
		w := watch.NewFakeWithChanSize(4, false)
		switch len(opened) {
		case 1: // from the list: a change, then the server ends the watch
			w.Modify(pod("6"))
			w.Stop()
		case 2: // resumed at 6: a bookmark, then closed again
			w.Action(watch.Bookmark, pod("8"))
			w.Stop()
		case 3: // resumed at 8: the version has expired
			w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version: 8"})
		default:
			w.Add(pod("11"))
		}
		return w, nil
	}
	list := func(context.Context) ([]runtime.Object, string, error) {
		mu.Lock()
		defer mu.Unlock()
		lists++
		switch lists {
		case 1:
			return []runtime.Object{pod("5")}, "5", nil
		case 2:
			return nil, "", errors.New("etcd leader changed")
		default:
			return []runtime.Object{pod("10")}, "10", nil
		}
	}
	var failures int
	Each(ctx, &Backoff{Min: time.Millisecond, Max: time.Millisecond}, open, list,
		func(o runtime.Object) {
			mu.Lock()
			got = append(got, o.(interface{ GetResourceVersion() string }).GetResourceVersion())
			if len(got) == 4 {
				cancel()
			}
			mu.Unlock()
		},
		func(error, time.Duration) { failures++ })
	if want := "5 6 10 11"; strings.Join(got, " ") != want {
		t.Errorf("handled versions %q, want %q", strings.Join(got, " "), want)
	}
	if want := "5 6 8 10"; strings.Join(opened, " ") != want {
		t.Errorf("watches opened at %q, want %q", strings.Join(opened, " "), want)
	}
	if failures != 2 || lists != 3 {
		t.Errorf("%d failures reported over %d lists, want 2 (the expired version, the failed list) over 3", failures, lists)
	}
}
