package hook

import (
	"reflect"
	"testing"
	"time"
)

func TestResolvedRoundTrip(t *testing.T) {
	in := []Hook{
		{Name: "pg", Phase: PreBackup, Source: Source{Kind: "annotation", Ref: "pre.hook.backup.quiesce.dev/hooks[0]"}, Container: "db",
			Command: []string{"psql", "-c", "SELECT 1"}, Timeout: time.Minute, OnError: Fail, Retries: 2, Mode: Hold,
			Hold: &HoldSpec{ReadyLine: "ready", ReadyTimeout: 5 * time.Second, ReleaseInput: "\\q\n", ReleaseTimeout: 3 * time.Second}},
		{Name: "notify", Phase: PreBackup, Source: Source{Kind: "spec", Ref: "spec.hooks.resources[0].post[0]"}, Container: "app",
			Command: []string{"/bin/true"}, Timeout: 30 * time.Second, OnError: Continue, When: OnSuccess, Mode: Exec},
	}
	if got := FromResolved(PreBackup, ToResolved(in)); !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}
}
