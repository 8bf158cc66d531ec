package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quiesce-dev/quiesce/agent/journal"
	"github.com/quiesce-dev/quiesce/agent/kubeletpath"
	"github.com/quiesce-dev/quiesce/agent/phase"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/internal/metrics"
)

// Agent backs up the pods its node's NodeBackups assign to it.
type Agent struct {
	Node      string
	Namespace string
	Client    client.WithWatch
	Journal   *journal.Journal
	Hooks     Hooks
	Volumes   Volumes
	// Paths resolves volume host paths before a pod is frozen; nil means
	// the assignments already carry them.
	Paths PathResolver
	// CaptureSlots bounds concurrent captures (and so concurrent freezes).
	CaptureSlots int
	// Pacer bounds the staged uploads running at once and holds them
	// while a pod of the node is frozen; nil: uploads unbounded, unpaced.
	Pacer *UploadPacer
	// StatusInterval spaces the NodeBackup status writes (results reported
	// meanwhile go in one write per NodeBackup); 0 means
	// DefaultStatusInterval, negative writes at once.
	StatusInterval time.Duration
	Log            *zap.Logger
	Metrics        *metrics.Agent       // may be nil
	Events         record.EventRecorder // may be nil
	Logs           LogStore             // may be nil
	Now            func() time.Time
	// Restore, if set, runs alongside: this node's NodeRestores.
	Restore *Restorer
	// PodOnNode reports whether a pod (by UID) is still on the node; staged
	// copies of pods that are not, and have no journal record, are removed.
	// Nil: staging is never pruned.
	PodOnNode func(podUID string) bool

	slots   chan struct{}
	status  *statusWriter[api.PodResult]
	mu      sync.Mutex
	started map[string]bool       // backup/podUID
	turns   map[string]*groupTurn // backup/podUID of running group members
	wg      sync.WaitGroup
}

// Run thaws what the journal says may still be frozen, then acts on its
// node's NodeBackups until ctx ends, and waits for the pods it started.
func (a *Agent) Run(ctx context.Context) error {
	if a.Now == nil {
		a.Now = time.Now
	}
	a.slots = make(chan struct{}, max(1, a.CaptureSlots))
	a.started = map[string]bool{}
	a.turns = map[string]*groupTurn{}
	a.status = newStatusWriter(a.Client, a.Namespace, a.Log, a.statusInterval())
	// The status writer outlives ctx: pods still thawing after a shutdown
	// request report their results before Run returns.
	stopWriter := a.status.start(ctx)
	if a.Restore != nil {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.Restore.Run(ctx) }()
	}
	defer func() {
		a.wg.Wait()
		stopWriter()
	}()

	// First, and without the API server: thaw pods left frozen and resume
	// uploads left half done by an earlier process.
	recs, err := a.Journal.List()
	if err != nil {
		a.Log.Error("journal has unreadable records; pods they stand for may need a manual thaw", zap.Error(err))
	}
	for _, rec := range recs {
		rec := rec
		switch {
		case rec.Result != nil:
			a.markStarted(rec.Backup, rec.PodUID)
			a.status.report(rec.NodeBackup, *rec.Result)
		case !rec.Phase.Final() && rec.Assignment != nil:
			a.markStarted(rec.Backup, rec.PodUID)
			// A resumed pod is thawed at once or uploading: no deadline is
			// armed again, so the backup's max freeze is not needed.
			plan := planOf(rec.Assignment, rec.Staged, 0)
			a.startPod(ctx, rec.NodeBackup, rec.Backup, rec.Expires, rec.Assignment, plan, &rec, nil)
		}
	}
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.pruneStagingLoop(ctx) }()
	return a.watch(ctx)
}

// DefaultStatusInterval spaces an agent's status writes: short next to a
// freeze's hooks and capture, long enough to batch a busy node's changes.
const DefaultStatusInterval = 200 * time.Millisecond

func (a *Agent) statusInterval() time.Duration {
	switch {
	case a.StatusInterval < 0:
		return 0
	case a.StatusInterval == 0:
		return DefaultStatusInterval
	}
	return a.StatusInterval
}

// finalRecord is a pod's journal record once its backup has ended: its
// result, kept until the NodeBackup's status shows it.
func finalRecord(backup, nodeBackup string, pod *api.PodAssignment, res api.PodResult, now time.Time) journal.Record {
	return journal.Record{Backup: backup, NodeBackup: nodeBackup, Namespace: pod.Namespace, Pod: pod.Name, PodUID: pod.UID,
		Phase: phase.Phase(res.Phase), Cause: res.Cause, Reason: res.Reason, Updated: now, Result: &res}
}

func (a *Agent) markStarted(backup, uid string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := backup + "/" + uid
	if a.started[k] {
		return false
	}
	a.started[k] = true
	return true
}

// watch lists and watches this node's NodeBackups, starting their pods.
func (a *Agent) watch(ctx context.Context) error {
	listWatch(ctx, a.Client, a.Log, &api.NodeBackupList{}, func(o runtime.Object) {
		if nb, ok := o.(*api.NodeBackup); ok {
			a.handle(ctx, nb)
		}
	}, client.InNamespace(a.Namespace), client.MatchingLabels{api.LabelNode: a.Node})
	return nil
}

func (a *Agent) groupTurn(backup, uid string) (*groupTurn, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.turns[backup+"/"+uid]
	return t, ok
}

// planOf is what the phase machine needs of a pod, read from the spec the
// coordinator's plan wrote complete: the pod's max freeze (a NodeBackup
// from an older coordinator carries only the backup's, backupMaxFreeze),
// the capture mode, and the pod's group.
func planOf(pod *api.PodAssignment, staged bool, backupMaxFreeze time.Duration) phase.Plan {
	p := phase.Plan{MaxFreeze: backupMaxFreeze, Staged: staged, Grouped: pod.Group != nil}
	if pod.MaxFreeze != nil {
		p.MaxFreeze = pod.MaxFreeze.Duration
	}
	return p
}

// handle starts the pods of nb that are neither final in its status nor
// started by this process.
func (a *Agent) handle(ctx context.Context, nb *api.NodeBackup) {
	if nb.Spec.NodeName != a.Node {
		return // never act on another node's assignment
	}
	final := map[string]bool{}
	for _, p := range nb.Status.Pods {
		final[p.UID] = p.Phase == api.PodCompleted || p.Phase == api.PodFailed || p.Phase == api.PodSkipped
	}
	for i := range nb.Spec.Pods {
		pod := nb.Spec.Pods[i]
		if t, ok := a.groupTurn(nb.Spec.BackupName, pod.UID); ok && pod.Group != nil {
			t.deliver(gateFor(nb, &pod))
		}
		if final[pod.UID] {
			// Reported: the node's record is no longer needed.
			if err := a.Journal.Delete(nb.Spec.BackupName, pod.UID); err != nil {
				a.Log.Warn("journal cleanup failed", zap.Error(err))
			}
			continue
		}
		if !a.markStarted(nb.Spec.BackupName, pod.UID) {
			continue
		}
		// A pod this node journalled as final is re-reported, not redone.
		if rec, ok, err := a.Journal.Get(nb.Spec.BackupName, pod.UID); err == nil && ok && rec.Result != nil {
			a.status.report(nb.Name, *rec.Result)
			continue
		}
		plan := planOf(&pod, nb.Spec.CaptureMode != api.CaptureDirect, nb.Spec.MaxFreeze.Duration)
		if plan.MaxFreeze <= 0 {
			// The coordinator's plan sets every bound; the agent does not
			// invent one. Refused before anything freezes.
			a.status.report(nb.Name, api.PodResult{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Node: a.Node, Phase: api.PodFailed,
				Cause: api.CauseInvalidSpec, Reason: fmt.Sprintf("NodeBackup %s: spec.maxFreeze and spec.pods[%d].maxFreeze are unset, pod not frozen: let the coordinator write the NodeBackup, or set a positive maxFreeze", nb.Name, i)})
			continue
		}
		if a.Paths != nil {
			if err := a.Paths.Resolve(ctx, &pod); err != nil {
				cause, reason := api.CauseVolumesNotFound, "volumes not found, pod not frozen: "
				if errors.Is(err, kubeletpath.ErrNotMounted) {
					cause, reason = api.CauseVolumeNotMounted, "pod not frozen: "
				}
				res := api.PodResult{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Node: a.Node, Phase: api.PodFailed,
					Cause: cause, Reason: reason + err.Error()}
				a.Log.Error("pod volumes not resolved", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(err))
				a.status.report(nb.Name, res)
				continue
			}
		}
		var expires time.Time
		if nb.Spec.Expiration != nil {
			expires = nb.Spec.Expiration.Time
		}
		var turn *groupTurn
		if pod.Group != nil {
			turn = newGroupTurn(gateFor(nb, &pod))
			a.mu.Lock()
			a.turns[nb.Spec.BackupName+"/"+pod.UID] = turn
			a.mu.Unlock()
		}
		a.startPod(ctx, nb.Name, nb.Spec.BackupName, expires, &pod, plan, nil, turn)
	}
}

func (a *Agent) startPod(ctx context.Context, nodeBackup, backup string, expires time.Time, pod *api.PodAssignment, plan phase.Plan, resume *journal.Record, turn *groupTurn) {
	r := &backupPod{
		node: a.Node, backup: backup, nodeBackup: nodeBackup, expires: expires, pod: pod, plan: plan, turn: turn,
		hooks: a.Hooks, vols: a.Volumes, journal: a.Journal, slot: captureSlot{slots: a.slots}, pacer: a.Pacer,
		report:  func(p api.PodResult) { p.Node = a.Node; a.status.report(nodeBackup, p) },
		log:     a.Log.With(zap.String("nodeBackup", nodeBackup)), // a.Log carries the node
		metrics: a.Metrics, now: a.Now,
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		res := r.run(ctx, resume)
		res.Node = a.Node
		a.mu.Lock()
		delete(a.turns, backup+"/"+pod.UID)
		a.mu.Unlock()
		a.status.report(nodeBackup, res)
		podEvents(a.Events, backup, res)
		if a.Logs != nil {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			if err := a.Logs.PutLog(lctx, backup, a.Node+"/"+pod.Namespace+"/"+pod.Name, podLog(a.Node, res)); err != nil {
				a.Log.Warn("backup log not stored", zap.String("pod", pod.Namespace+"/"+pod.Name), zap.Error(err))
			}
			cancel()
		}
	}()
}
