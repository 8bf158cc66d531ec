package agent

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/agent/nodelock"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// NodeLockFile is the node lock's file in the agent's state directory.
const NodeLockFile = "agent.lock"

// Guard thaws the pods a dead agent process left frozen, from the node
// journal alone, while no agent process runs on the node: the agent holds
// the node lock for its whole life, so a Guard that can take it knows the
// agent is gone (crashed, crash-looping in the kubelet's back-off, or not
// started yet) and that every frozen record is an orphan. Without it a
// frozen pod waited for the kubelet to restart the agent: 15-23 s, and up
// to 5 minutes once the agent crash-loops, whatever maxFreeze said.
//
// The thaw is the agent's own resume path (backupPod with the journal
// record): the same phase machine, the same hooks, the same final record,
// which the agent reports to the API server when it comes back. The Guard
// needs neither the API server nor the repository.
type Guard struct {
	Node    string
	Journal *journal.Journal
	Hooks   Hooks
	// LockPath is the node lock the agent holds (nodelock).
	LockPath string
	// Interval is how often the Guard looks; default 500ms.
	Interval time.Duration
	Log      *zap.Logger
	Now      func() time.Time
}

// Run sweeps until ctx ends.
func (g *Guard) Run(ctx context.Context) error {
	if g.Now == nil {
		g.Now = time.Now
	}
	every := g.Interval
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := g.Sweep(ctx); err != nil {
			g.Log.Error("thaw guard sweep failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep thaws every pod the journal records as frozen, if the node lock is
// free, and returns how many it thawed. A thaw is never cut short: a
// cancelled ctx stops the sweep between pods, not within one.
func (g *Guard) Sweep(ctx context.Context) (int, error) {
	lock, err := nodelock.Try(g.LockPath)
	if err != nil || lock == nil {
		return 0, err // nil lock: an agent is running and thaws its own pods
	}
	defer lock.Release()
	recs, err := g.Journal.List()
	if err != nil {
		g.Log.Error("journal has unreadable records; pods they stand for may need a manual thaw", zap.Error(err))
	}
	n := 0
	for _, rec := range recs {
		if rec.Result != nil || !rec.Phase.Frozen() || rec.Assignment == nil || ctx.Err() != nil {
			continue
		}
		g.thaw(ctx, rec)
		n++
	}
	return n, nil
}

func (g *Guard) thaw(ctx context.Context, rec journal.Record) {
	log := g.Log.With(zap.String("nodeBackup", rec.NodeBackup))
	log.Warn("no agent process is running: the thaw guard thaws a pod an earlier agent process left frozen",
		zap.String("backup", rec.Backup), zap.String("pod", rec.Namespace+"/"+rec.Pod), zap.String("phase", string(rec.Phase)))
	start := g.Now()
	p := &backupPod{
		node: g.Node, backup: rec.Backup, nodeBackup: rec.NodeBackup, expires: rec.Expires, pod: rec.Assignment,
		plan: planOf(rec.Assignment, rec.Staged, 0), hooks: g.Hooks, journal: g.Journal,
		report: func(api.PodResult) {}, // the agent reports the final record when it is back
		log:    log, now: g.Now,
	}
	res := p.run(context.WithoutCancel(ctx), &rec)
	res.Reason += " (thawed by the node's thaw guard: no agent process was running)"
	if err := g.Journal.Put(finalRecord(rec.Backup, rec.NodeBackup, rec.Assignment, res, g.Now())); err != nil {
		log.Error("journal write of the guard's final result failed", zap.Error(err))
	}
	log.Info("thaw guard thawed the pod", zap.String("pod", rec.Namespace+"/"+rec.Pod), zap.String("phase", string(res.Phase)),
		zap.Duration("took", g.Now().Sub(start)))
}
