package agent

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/agent/nodelock"
	"github.com/quiesce-dev/quiesce/agent/phase"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// The guard thaws a pod a dead agent left frozen only while no agent holds
// the node lock, through the agent's own resume path, and leaves the
// final result in the journal for the agent to report.
func TestGuardThawsOnlyWithoutAnAgent(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(filepath.Join(dir, "journal"))
	if err != nil {
		t.Fatal(err)
	}
	pod := &api.PodAssignment{Namespace: "shop", Name: "db-0", UID: "u1"}
	now := time.Now()
	put := func(uid string, ph phase.Phase) {
		p := *pod
		p.UID, p.Name = uid, "pod-"+uid
		if err := j.Put(journal.Record{Backup: "b1", NodeBackup: "b1-node-a", Namespace: "shop", Pod: p.Name, PodUID: uid,
			Phase: ph, ThawBy: now.Add(time.Minute), Updated: now, Assignment: &p}); err != nil {
			t.Fatal(err)
		}
	}
	put("frozen", phase.Capturing)
	put("uploading", phase.Uploading) // thawed already: the agent resumes its upload
	tr := &trace{}
	g := &Guard{Node: "node-a", Journal: j, Hooks: &fakeHooks{tr: tr}, LockPath: filepath.Join(dir, "agent.lock"),
		Log: zaptest.NewLogger(t), Now: time.Now}

	agentLock, err := nodelock.Try(g.LockPath)
	if err != nil || agentLock == nil {
		t.Fatalf("lock: %v %v", agentLock, err)
	}
	if n, err := g.Sweep(t.Context()); n != 0 || err != nil || len(tr.get()) != 0 {
		t.Fatalf("Sweep with the agent running = %d, %v, hooks %v: want nothing done", n, err, tr.get())
	}
	agentLock.Release() // the agent died

	if n, err := g.Sweep(t.Context()); n != 1 || err != nil {
		t.Fatalf("Sweep without an agent = %d, %v; want the frozen pod thawed", n, err)
	}
	if got := strings.Join(tr.get(), " "); got != "thaw-only" {
		t.Errorf("hooks asked %q, want one thaw-only", got)
	}
	rec, ok, err := j.Get("b1", "frozen")
	if err != nil || !ok || rec.Result == nil {
		t.Fatalf("journal after the guard: %+v %v %v; want the final result kept", rec, ok, err)
	}
	if r := rec.Result; r.Phase != api.PodFailed || r.Cause != api.CauseAgentRestarted || r.Node != "node-a" ||
		!strings.Contains(r.Reason, "thaw guard") || len(r.Hooks) != 1 {
		t.Errorf("result %+v: want Failed, AgentRestarted, on node-a, naming the guard, with the post-hook", r)
	}
	if rec, _, _ := j.Get("b1", "uploading"); rec.Phase != phase.Uploading || rec.Result != nil {
		t.Errorf("uploading pod's record changed: %+v", rec)
	}
	if n, _ := g.Sweep(t.Context()); n != 0 || len(tr.get()) != 1 {
		t.Errorf("second Sweep thawed %d more (hooks %v): want none", n, tr.get())
	}
}
