// Package nodelock is the lock that makes one process at a time act on a
// node's journal: the agent holds it for its whole life, the thaw guard
// only while it thaws what a dead agent left frozen. It is a flock(2) on a
// file in the node's state directory, so the kernel releases it the moment
// its holder dies, kill -9 included, and it works across the containers and
// pods that mount that directory.
package nodelock

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// retry is how often Acquire tries again while the lock is taken.
const retry = 100 * time.Millisecond

// Lock is a held lock.
type Lock struct{ f *os.File }

// Release lets the next holder in. Safe on a nil Lock.
func (l *Lock) Release() {
	if l != nil && l.f != nil {
		l.f.Close() // closing the only descriptor drops the flock
		l.f = nil
	}
}

// Try takes the lock at path if it is free; nil (and no error) if another
// process holds it.
func Try(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("node lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if err == syscall.EWOULDBLOCK {
			return nil, nil
		}
		return nil, fmt.Errorf("node lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Acquire waits for the lock at path until ctx ends. waiting, if not nil,
// is called once when the lock is found taken.
func Acquire(ctx context.Context, path string, waiting func()) (*Lock, error) {
	for first := true; ; first = false {
		l, err := Try(path)
		if err != nil || l != nil {
			return l, err
		}
		if first && waiting != nil {
			waiting()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("node lock %s: %w", path, context.Cause(ctx))
		case <-time.After(retry):
		}
	}
}
