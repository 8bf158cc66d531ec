package agent

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/quiesce-dev/quiesce/agent/journal"
	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
	"github.com/quiesce-dev/quiesce/cri"
	"github.com/quiesce-dev/quiesce/fsbackup"
	"github.com/quiesce-dev/quiesce/internal/metrics"
)

// VolumeRestorer writes a snapshot into a directory (*fsbackup.Engine in
// production, a fake in tests).
type VolumeRestorer interface {
	Restore(ctx context.Context, snapshotID, dir string, opt fsbackup.RestoreOptions) (fsbackup.RestoreResult, error)
}

// ledgerRetention is how long a restore ledger entry may outlive its last
// update: far past any restore's deadline.
const ledgerRetention = 7 * 24 * time.Hour

// DefaultRestoreDeadline bounds a NodeRestore whose spec has no deadline.
const DefaultRestoreDeadline = time.Hour

// Restorer carries out the pods its node's NodeRestores assign to it: it
// fills each restored pod's volumes from their snapshots while the pod's
// wait init container holds it, releases the pod through the signal file,
// then runs the pod's post-restore hooks through the CRI once their
// containers run. Every step is bounded by the NodeRestore's deadline.
//
// A restarted agent restarts the pods not final in status: restoring a
// volume again (with Overwrite) gives the same data. Post-restore hooks are
// not repeatable in general (a schema migration): the Ledger records each
// hook's start before its exec, and a restarted agent does not run a hook
// again that the ledger says was started.
type Restorer struct {
	Node      string
	Namespace string
	Client    client.WithWatch
	Volumes   VolumeRestorer
	Runtime   cri.Execer
	// KubeletRoot is the kubelet's root dir; default /var/lib/kubelet.
	KubeletRoot string
	// Mounts: a CSI or local volume is restored only into its mount.
	Mounts MountTable
	// Ledger makes post-restore hooks at most once; nil: at least once.
	Ledger  *journal.RestoreLedger
	Log     *zap.Logger
	Metrics *metrics.Agent       // may be nil
	Events  record.EventRecorder // may be nil
	Logs    LogStore             // may be nil
	Now     func() time.Time

	status  *statusWriter[api.RestorePodResult]
	mu      sync.Mutex
	started map[string]bool // nodeRestore UID/pod UID
	wg      sync.WaitGroup
}

// Run acts on this node's NodeRestores until ctx ends, then waits for the
// pods it started (they stop with ctx and are left for the next process).
func (r *Restorer) Run(ctx context.Context) {
	if r.Now == nil {
		r.Now = time.Now
	}
	r.started = map[string]bool{}
	r.status = newResultWriter("nodeRestore", r.Log, func(p api.RestorePodResult) string { return p.UID }, r.writeStatus)
	stopWriter := r.status.start(ctx)
	if r.Ledger != nil {
		// Entries of restores deleted before their results were seen.
		if n, err := r.Ledger.Prune(r.Now().Add(-ledgerRetention)); n > 0 || err != nil {
			r.Log.Info("old restore ledger entries removed", zap.Int("entries", n), zap.Error(err))
		}
	}
	defer func() {
		r.wg.Wait()
		stopWriter()
	}()
	listWatch(ctx, r.Client, r.Log, &api.NodeRestoreList{}, func(o runtime.Object) {
		if nr, ok := o.(*api.NodeRestore); ok {
			r.handle(ctx, nr)
		}
	}, client.InNamespace(r.Namespace), client.MatchingLabels{api.LabelNode: r.Node})
}

// handle starts the pods of nr that are neither final in its status nor
// started by this process.
func (r *Restorer) handle(ctx context.Context, nr *api.NodeRestore) {
	if nr.Spec.NodeName != r.Node {
		return // never act on another node's assignment
	}
	prev := map[string]*api.RestorePodResult{}
	for i := range nr.Status.Pods {
		prev[nr.Status.Pods[i].UID] = nr.Status.Pods[i].DeepCopy()
	}
	deadline := nr.Spec.Deadline.Time
	if deadline.IsZero() {
		deadline = r.Now().Add(DefaultRestoreDeadline)
		r.Log.Warn("noderestore has no deadline; using the default", zap.String("nodeRestore", nr.Name), zap.Duration("deadline", DefaultRestoreDeadline))
	}
	for i := range nr.Spec.Pods {
		a := nr.Spec.Pods[i]
		if p := prev[a.UID]; p != nil && p.Phase.Final() {
			r.forgetHooks(string(nr.UID), a.UID) // its result is in status
			continue
		}
		if !r.markStarted(string(nr.UID) + "/" + a.UID) {
			continue
		}
		run := &restorePod{r: r, restore: nr.Spec.RestoreName, nodeRestore: nr.Name, nodeRestoreUID: string(nr.UID), a: &a, prev: prev[a.UID],
			log: r.Log.With(zap.String("restore", nr.Spec.RestoreName), zap.String("nodeRestore", nr.Name),
				zap.String("namespace", a.Namespace), zap.String("pod", a.Name), zap.String("podUID", a.UID))}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			res, final := run.run(ctx, deadline)
			if !final {
				run.log.Info("agent stopping: pod restore left for the next agent process", zap.String("phase", string(res.Phase)))
				return
			}
			r.finish(ctx, run, res)
		}()
	}
}

// forgetHooks drops a pod's ledger entry once its final result is in status.
func (r *Restorer) forgetHooks(nodeRestoreUID, podUID string) {
	if r.Ledger == nil {
		return
	}
	if err := r.Ledger.Delete(nodeRestoreUID, podUID); err != nil {
		r.Log.Warn("restore ledger entry not deleted", zap.String("podUID", podUID), zap.Error(err))
	}
}

func (r *Restorer) markStarted(k string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started[k] {
		return false
	}
	r.started[k] = true
	return true
}

// finish reports a pod's final result, as status, Events, metrics and its
// log in the repository.
func (r *Restorer) finish(ctx context.Context, run *restorePod, res api.RestorePodResult) {
	// Metrics and events before the status: whoever sees the pod final in
	// status (the runner, a test) finds them counted.
	restoreEvents(r.Events, run.restore, res)
	r.observe(res)
	r.status.report(run.nodeRestore, res)
	if r.Logs != nil {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := r.Logs.PutLog(lctx, RestoreLogName(run.restore), r.Node+"/"+res.Namespace+"/"+res.Name, restorePodLog(r.Node, res)); err != nil {
			run.log.Warn("restore log not stored", zap.Error(err))
		}
	}
}

// RestoreLogName is the name under which a Restore's pod logs are kept in
// the repository (LogStore's backup argument): `quiesce restore logs` reads
// them with Engine.Logs(ctx, RestoreLogName(name)).
func RestoreLogName(restore string) string { return "restore/" + restore }

func (r *Restorer) observe(res api.RestorePodResult) {
	if r.Metrics == nil {
		return
	}
	for _, v := range res.Volumes {
		r.Metrics.RestoreBytes.Add(float64(v.Bytes))
		if v.Duration.Duration > 0 {
			r.Metrics.RestoreDuration.Observe(v.Duration.Duration.Seconds())
		}
	}
	for _, h := range res.Hooks {
		outcome := "ok"
		switch {
		case h.Skipped:
			outcome = "skipped"
		case h.TimedOut:
			outcome = "timeout"
		case h.Failed():
			outcome = "failed"
		}
		r.Metrics.RestoreHooks.WithLabelValues(outcome).Inc()
	}
}

func (r *Restorer) writeStatus(ctx context.Context, name string, pods map[string]api.RestorePodResult) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var nr api.NodeRestore
		if err := r.Client.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: name}, &nr); err != nil {
			return err
		}
		nr.Status.Pods = mergeByUID(nr.Status.Pods, pods, func(p api.RestorePodResult) string { return p.UID })
		final := map[string]bool{}
		for _, p := range nr.Status.Pods {
			final[p.UID] = p.Phase.Final()
		}
		nr.Status.Done = true
		for _, a := range nr.Spec.Pods {
			nr.Status.Done = nr.Status.Done && final[a.UID]
		}
		return r.Client.Status().Update(ctx, &nr)
	})
}
