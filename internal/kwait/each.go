package kwait

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Backoff spaces the attempts after failures: it doubles from Min up to
// Max, and starts over at Min after Reset (a success).
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next returns the wait before the next attempt and doubles the one after.
func (b *Backoff) Next() time.Duration {
	if b.next < b.Min {
		b.next = b.Min
	}
	d := b.next
	b.next = min(2*b.next, b.Max)
	return d
}

// Reset starts the doubling over: the last attempt succeeded.
func (b *Backoff) Reset() { b.next = 0 }

// Sleep waits d or until ctx ends, and returns ctx's error if it did.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Permanent marks an error that retrying cannot cure (the object is gone,
// the wait's condition can no longer hold): Retry returns it at once.
func Permanent(err error) error { return permanentError{err} }

type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// Retry runs attempt until it succeeds, fails with a Permanent error, or
// ctx ends, waiting b between failures; retrying is told each failure and
// the wait before the next attempt. Permanent errors are returned unwrapped.
func Retry(ctx context.Context, b *Backoff, attempt func(context.Context) error, retrying func(err error, in time.Duration)) error {
	for {
		err := attempt(ctx)
		var p permanentError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &p):
			return p.error
		case ctx.Err() != nil:
			return ctx.Err()
		}
		d := b.Next()
		retrying(err, d)
		if err := Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// Each hands every object to handle: first all that list returns, then each
// one a watch reports added or changed, until ctx ends. The watch is opened
// before the list, so no change made after the list is missed; when it
// closes (a timeout, a compaction) Each starts over at once, and when open,
// list or the watch fail it starts over after b. handle sees an object more
// than once and must be idempotent.
func Each(ctx context.Context, b *Backoff, open func(context.Context) (watch.Interface, error), list func(context.Context) ([]runtime.Object, error), handle func(runtime.Object), retrying func(err error, in time.Duration)) {
	for ctx.Err() == nil {
		err := eachRound(ctx, b, open, list, handle)
		if err == nil || ctx.Err() != nil {
			continue
		}
		d := b.Next()
		retrying(err, d)
		_ = Sleep(ctx, d)
	}
}

// eachRound lists and follows one watch; nil when the watch closed.
func eachRound(ctx context.Context, b *Backoff, open func(context.Context) (watch.Interface, error), list func(context.Context) ([]runtime.Object, error), handle func(runtime.Object)) error {
	w, err := open(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	items, err := list(ctx)
	if err != nil {
		return err
	}
	b.Reset()
	for _, o := range items {
		handle(o)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.ResultChan():
			switch {
			case !ok:
				return nil
			case ev.Type == watch.Error:
				// Its object is a metav1.Status (say, the resource version
				// expired); the next round lists again.
				return fmt.Errorf("watch reported an error: %w", apierrors.FromObject(ev.Object))
			case ev.Type == watch.Added || ev.Type == watch.Modified:
				handle(ev.Object)
			}
		}
	}
}
