package nodelock

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestTryAndAcquire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.lock")
	a, err := Try(path)
	if err != nil || a == nil {
		t.Fatalf("Try on a free lock = %v, %v", a, err)
	}
	if b, err := Try(path); err != nil || b != nil {
		t.Fatalf("Try on a held lock = %v, %v; want nil, nil", b, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := Acquire(ctx, path, func() { waited = true }); err == nil || !waited {
		t.Fatalf("Acquire of a held lock = %v (waited %v); want the context's error after waiting", err, waited)
	}
	a.Release()
	a.Release() // idempotent
	c, err := Acquire(t.Context(), path, nil)
	if err != nil || c == nil {
		t.Fatalf("Acquire after Release = %v, %v", c, err)
	}
	c.Release()
}

// A holder that dies (kill -9) releases the lock with it.
func TestLockDiesWithItsHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.lock")
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("no flock(1) on this machine")
	}
	// -o: only flock(1) itself holds the lock, not the sleep it runs.
	cmd := exec.Command(flock, "-o", path, "sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }() // the sleep too
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := Try(path)
		if err != nil {
			t.Fatal(err)
		}
		if l == nil {
			break
		}
		l.Release()
		if time.Now().After(deadline) {
			t.Fatal("flock(1) never took the lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill()
	l, err := Acquire(t.Context(), path, nil)
	if err != nil || l == nil {
		t.Fatalf("Acquire after the holder was killed = %v, %v", l, err)
	}
	l.Release()
}
