package kwait

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

func pod(rv string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db-0", UID: "u1", ResourceVersion: rv}}
}

// A watch's initial ADDED event of an object the read saw at the same
// version is not a change: Until must not read again for it, only for the
// MODIFIED that follows.
func TestUntilIgnoresInitialAddedOfSeenObjects(t *testing.T) {
	var reads atomic.Int32
	var w *watch.FakeWatcher
	open := func(context.Context) ([]watch.Interface, error) {
		w = watch.NewFakeWithChanSize(4, false)
		return []watch.Interface{w}, nil
	}
	read := func(context.Context) (bool, Seen, error) {
		n := reads.Add(1)
		s := Seen{}
		s.Add(pod("5"))
		if n == 1 {
			w.Add(pod("5"))    // what a fresh watch replays: already seen
			w.Modify(pod("6")) // a real change
		}
		return n == 2, s, nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := Until(ctx, open, read); err != nil {
		t.Fatal(err)
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("%d reads, want 2 (the replayed ADDED must not wake the wait)", n)
	}
}

// With only replayed ADDED events, Until waits for ctx, reading once.
func TestUntilDoesNotSpinOnReplayedObjects(t *testing.T) {
	var reads atomic.Int32
	open := func(context.Context) ([]watch.Interface, error) {
		w := watch.NewFakeWithChanSize(1, false)
		w.Add(pod("5"))
		return []watch.Interface{w}, nil
	}
	read := func(context.Context) (bool, Seen, error) {
		reads.Add(1)
		s := Seen{}
		s.Add(pod("5"))
		return false, s, nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := Until(ctx, open, read); err != context.DeadlineExceeded {
		t.Fatalf("Until = %v, want the context's deadline", err)
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("%d reads while nothing changed, want 1", n)
	}
}
