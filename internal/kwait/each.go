package kwait

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
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
// one a watch from the list's resource version reports added or changed,
// until ctx ends. When the watch closes (the API server ends every watch
// after a few minutes) Each opens it again from the last version it saw,
// without listing: a list is a quorum read of every object from etcd, and
// 200 agents listing on each closed watch queued up there until writes
// stalled. It lists again only when that version has expired (410); when
// open, list or the watch fail it retries after b. handle sees an object
// more than once and must be idempotent.
func Each(ctx context.Context, b *Backoff, open func(ctx context.Context, version string) (watch.Interface, error),
	list func(context.Context) (items []runtime.Object, version string, err error), handle func(runtime.Object),
	retrying func(err error, in time.Duration)) {
	version := "" // none: list first
	for ctx.Err() == nil {
		var err error
		if version == "" {
			version, err = listAll(ctx, list, handle)
		}
		if err == nil {
			version, err = follow(ctx, b, open, version, handle)
		}
		if err == nil || ctx.Err() != nil {
			continue
		}
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			version = ""
		}
		d := b.Next()
		retrying(err, d)
		_ = Sleep(ctx, d)
	}
}

func listAll(ctx context.Context, list func(context.Context) ([]runtime.Object, string, error), handle func(runtime.Object)) (string, error) {
	items, version, err := list(ctx)
	if err != nil {
		return "", err
	}
	for _, o := range items {
		handle(o)
	}
	return version, nil
}

// follow hands what one watch from version reports to handle and returns
// the last version seen: nil error when the watch closed.
func follow(ctx context.Context, b *Backoff, open func(context.Context, string) (watch.Interface, error), version string, handle func(runtime.Object)) (string, error) {
	w, err := open(ctx, version)
	if err != nil {
		return version, err
	}
	defer w.Stop()
	b.Reset()
	for {
		select {
		case <-ctx.Done():
			return version, ctx.Err()
		case ev, ok := <-w.ResultChan():
			if !ok {
				return version, nil
			}
			if ev.Type == watch.Error {
				// Its object is a metav1.Status (say, the version expired).
				return version, fmt.Errorf("watch reported an error: %w", apierrors.FromObject(ev.Object))
			}
			if m, err := meta.Accessor(ev.Object); err == nil && m.GetResourceVersion() != "" {
				version = m.GetResourceVersion()
			}
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				handle(ev.Object)
			}
		}
	}
}
