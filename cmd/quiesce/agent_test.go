package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/kwait"
)

// An agent waiting for its repository opens it as soon as work for its
// node appears, not at the end of its back-off (an hour here: the test
// would time out).
func TestAgentRepositoryOpensWhenWorkAppears(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	if err := os.WriteFile(pw, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	rf := &repoFlags{path: filepath.Join(dir, "repo"), passwordFile: pw, cacheDir: filepath.Join(dir, "agent-cache"), cacheSizeMB: 16}
	work := make(chan struct{}, 1)
	type opened struct {
		e   *fsbackup.Engine
		err error
	}
	done := make(chan opened, 1)
	go func() {
		e, err := agentRepository(t.Context(), rf, false, work, &kwait.Backoff{Min: time.Hour, Max: time.Hour}, zap.NewNop())
		done <- opened{e, err}
	}()

	select {
	case o := <-done:
		t.Fatalf("agentRepository returned before the repository existed: %v", o.err)
	case <-time.After(300 * time.Millisecond):
	}
	// The coordinator creates the repository, then writes the NodeBackup.
	cfg := *rf
	cfg.cacheDir = filepath.Join(dir, "coordinator-cache")
	c, err := cfg.config()
	if err != nil {
		t.Fatal(err)
	}
	e, err := fsbackup.Create(t.Context(), c, fsbackup.Format{})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Close(t.Context())
	work <- struct{}{}

	o := <-done
	if o.err != nil {
		t.Fatalf("agentRepository after the repository was created: %v", o.err)
	}
	_ = o.e.Close(t.Context())
}
