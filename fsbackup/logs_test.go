package fsbackup

import (
	"testing"
)

func TestLogsRoundTrip(t *testing.T) {
	e, _ := newEngine(t)
	ctx := t.Context()
	if err := e.PutLog(ctx, "b1", "node-b/shop/web", "pre-hook ok\n"); err != nil {
		t.Fatal(err)
	}
	if err := e.PutLog(ctx, "b1", "node-a/shop/db", "pre-hook exited 1\n"); err != nil {
		t.Fatal(err)
	}
	if err := e.PutLog(ctx, "b2", "node-a/shop/db", "other backup\n"); err != nil {
		t.Fatal(err)
	}
	logs, err := e.Logs(ctx, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 || logs[0].Key != "node-a/shop/db" || logs[0].Text != "pre-hook exited 1\n" || logs[1].Key != "node-b/shop/web" {
		t.Fatalf("logs = %+v", logs)
	}
}
