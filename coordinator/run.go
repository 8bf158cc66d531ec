package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	api "github.com/quiesce-dev/quiesce/api/v1alpha1"
)

// Labels of NodeBackups: the Backup they belong to, and the node whose
// agent acts on them (agents list by it).
const (
	LabelBackup = api.LabelBackup
	LabelNode   = api.LabelNode
	// LabelSchedule marks Backups made by a schedule's CronJob.
	LabelSchedule = "quiesce.dev/schedule"
)

// Coordinator runs Backups: plans them, writes the NodeBackups and folds
// the agents' reports into the Backup status until it is final.
type Coordinator struct {
	Client client.WithWatch
	Log    *zap.Logger
	// AgentNamespace and AgentSelector find the agent pods; a node runs an
	// agent when a Running agent pod is on it.
	AgentNamespace string
	AgentSelector  labels.Selector
	// Timeout bounds the whole backup: pods not final by then fail.
	Timeout time.Duration
	Now     func() time.Time
	// Events records the Backup's start and end; may be nil.
	Events record.EventRecorder
	// Resources stores the Backup's Kubernetes objects when it finishes;
	// nil stores none (a Restore then has only the volume data).
	Resources ResourceRecorder
	// Exec runs the backup-level hooks (spec.hooks.backup) through the API
	// server; nil fails them.
	Exec PodExecer
	// Jobs runs the job form of backup-level hooks; nil fails them.
	Jobs HookJobs
	// Chunks bound each NodeBackup; zero means DefaultChunkLimits.
	Chunks ChunkLimits
	// ProgressInterval spaces the Backup's status writes while it runs;
	// zero means DefaultProgressInterval.
	ProgressInterval time.Duration

	lastProgress time.Time
}

// DefaultProgressInterval spaces a running Backup's progress writes.
const DefaultProgressInterval = 2 * time.Second

func (c *Coordinator) progressInterval() time.Duration {
	if c.ProgressInterval > 0 {
		return c.ProgressInterval
	}
	return DefaultProgressInterval
}

// Run takes the Backup to a final phase and returns it. It is idempotent: a
// coordinator restarted mid-backup resumes from the Backup's status and the
// NodeBackups that exist.
func (c *Coordinator) Run(ctx context.Context, key types.NamespacedName) (*api.Backup, error) {
	log := c.Log.With(zap.String("backup", key.String()))
	var b api.Backup
	if err := c.Client.Get(ctx, key, &b); err != nil {
		return nil, fmt.Errorf("backup %s: %w", key, err)
	}
	if b.Status.Phase.Final() {
		return &b, nil
	}
	if b.Status.Phase != api.BackupPhaseInProgress || b.Status.StartTimestamp == nil {
		if err := c.start(ctx, &b, log); err != nil {
			return nil, err
		}
	}
	if !b.Status.Planned {
		if c.Resources != nil {
			if err := c.Resources.Check(ctx); err != nil {
				reason := fmt.Sprintf("repository: %v: nothing was frozen", err)
				log.Error("repository check failed: backup not started", zap.Error(err))
				c.fail(ctx, &b, reason)
				if c.Events != nil {
					c.Events.Eventf(&b, corev1.EventTypeWarning, "RepositoryUnavailable", "%s", reason)
				}
				c.finished(&b)
				return &b, nil
			}
		}
		// Backup-level pre hooks run before any pod is frozen.
		if failed, err := c.preBackupHooks(ctx, &b, log); err != nil {
			return nil, err
		} else if failed {
			return c.postBackupHooks(ctx, &b, log)
		}
		if err := c.plan(ctx, &b, log); err != nil {
			return nil, err
		}
	}
	fin, err := c.follow(ctx, &b, log)
	if err != nil {
		return nil, err
	}
	return c.postBackupHooks(ctx, fin, log) // backup-level post hooks, once every pod is final
}

func (c *Coordinator) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Coordinator) start(ctx context.Context, b *api.Backup, log *zap.Logger) error {
	now := metav1.NewTime(c.now())
	err := c.updateStatus(ctx, b, func(st *api.BackupStatus) {
		st.Phase = api.BackupPhaseInProgress
		if st.StartTimestamp == nil {
			st.StartTimestamp = &now
		}
		if b.Spec.TTL.Duration > 0 && st.Expiration == nil {
			exp := metav1.NewTime(now.Add(b.Spec.TTL.Duration))
			st.Expiration = &exp
		}
		log.Info("backup started")
	})
	if err == nil && c.Events != nil {
		c.Events.Eventf(b, corev1.EventTypeNormal, "BackupStarted", "backup started")
	}
	return err
}

// plan selects the pods and writes one NodeBackup per node, then records
// their names (and the pods left out) in the Backup's status.
func (c *Coordinator) plan(ctx context.Context, b *api.Backup, log *zap.Logger) error {
	var pods corev1.PodList
	if err := c.Client.List(ctx, &pods); err != nil {
		return fmt.Errorf("backup %s/%s: list pods: %w", b.Namespace, b.Name, err)
	}
	agents, err := c.agentNodes(ctx)
	if err != nil {
		return fmt.Errorf("backup %s/%s: %w", b.Namespace, b.Name, err)
	}
	plan, err := BuildPlan(b, pods.Items, agents)
	if err != nil {
		c.fail(ctx, b, err.Error())
		return err
	}
	for _, w := range plan.Warnings {
		log.Warn("plan warning", zap.String("reason", w.Reason), zap.String("warning", w.Message))
		if c.Events != nil {
			c.Events.Eventf(b, corev1.EventTypeWarning, w.Reason, "%s", w.Message)
		}
	}
	// An earlier run of this coordinator may have written some of the
	// NodeBackups before it died: they stand, and hold their pods.
	var existing api.NodeBackupList
	if err := c.Client.List(ctx, &existing, client.InNamespace(b.Namespace), client.MatchingLabels{LabelBackup: b.Name}); err != nil {
		return fmt.Errorf("backup %s/%s: list its nodebackups: %w", b.Namespace, b.Name, err)
	}
	if len(existing.Items) > 0 {
		log.Info("resuming the plan: nodebackups of an earlier run kept", zap.Int("nodeBackups", len(existing.Items)))
	}
	plan = plan.Without(existing.Items)
	nbs := NodeBackups(b, plan, c.chunks())
	renameTaken(b.Name, nbs, existing.Items)
	// No group gates yet: a group's first opens once every member's agent
	// has reported it (Gates).
	for i := range nbs {
		nb := &nbs[i]
		if err := controllerutil.SetControllerReference(b, nb, c.Client.Scheme()); err != nil {
			return fmt.Errorf("nodebackup %s: %w", nb.Name, err)
		}
	}
	// Written a few at a time: one after the other, 200 nodes waited on
	// 200 round trips before the last agent could start.
	err = forEach(ctx, len(nbs), writeParallelism, func(ctx context.Context, i int) error {
		nb := &nbs[i]
		// A NodeBackup that exists was written by an earlier run of this
		// coordinator, and its agent may be working on it: leave it be.
		if err := c.Client.Create(ctx, nb); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("backup %s/%s: create nodebackup %s: %w", b.Namespace, b.Name, nb.Name, err)
		}
		log.Info("assigned pods to node", zap.String("node", nb.Spec.NodeName), zap.Int("pods", len(nb.Spec.Pods)),
			zap.Int("leftOut", len(nb.Spec.Results)), zap.String("nodeBackup", nb.Name))
		return nil
	})
	if err != nil {
		return err
	}
	return c.updateStatus(ctx, b, func(st *api.BackupStatus) {
		st.Planned, st.NodeBackupCount = true, len(existing.Items)+len(nbs)
		st.PodCounts = api.PodCounts{Total: len(plan.Results), InProgress: 0}
	})
}

// writeParallelism bounds the NodeBackup writes (creates, gates) in flight.
const writeParallelism = 8

// forEach calls fn for 0..n-1, at most par at a time, and returns the
// first error (the calls not started then are not made).
func forEach(ctx context.Context, n, par int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(ctx, i); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	return context.Cause(ctx)
}

func (c *Coordinator) chunks() ChunkLimits {
	if c.Chunks.Pods > 0 && c.Chunks.Bytes > 0 {
		return c.Chunks
	}
	return DefaultChunkLimits
}

// agentNodes returns the nodes with a Running agent pod.
func (c *Coordinator) agentNodes(ctx context.Context) (map[string]bool, error) {
	var agents corev1.PodList
	if err := c.Client.List(ctx, &agents, client.InNamespace(c.AgentNamespace), client.MatchingLabelsSelector{Selector: c.AgentSelector}); err != nil {
		return nil, fmt.Errorf("list agent pods in namespace %q (%s): %w", c.AgentNamespace, c.AgentSelector, err)
	}
	nodes := map[string]bool{}
	for _, p := range agents.Items {
		if p.Status.Phase == corev1.PodRunning && p.Spec.NodeName != "" {
			nodes[p.Spec.NodeName] = true
		}
	}
	return nodes, nil
}

// errGates carries an error of the coordinator's own writes (gates,
// status) out of the wait: those end the run, where a failed read of the
// NodeBackups only stops following.
type errGates struct{ err error }

func (e errGates) Error() string { return e.err.Error() }

// openGates writes the consistency groups' gates, recomputed from every
// member's phase, into the NodeBackups whose gates changed. Each write
// wakes the agents, which move their members on.
func (c *Coordinator) openGates(ctx context.Context, nbs []api.NodeBackup, log *zap.Logger) error {
	all := Gates(nbs)
	type change struct {
		nb    *api.NodeBackup
		gates []api.GroupGate
	}
	var changes []change
	for i := range nbs {
		if gates := gatesFor(&nbs[i], all); gatesChanged(&nbs[i], gates) {
			changes = append(changes, change{&nbs[i], gates})
		}
	}
	// A few at a time, as the creates: with groups spread over 200 nodes, a
	// round wrote ~200 NodeBackups one after the other, and every group's
	// next level waited on the whole round.
	return forEach(ctx, len(changes), writeParallelism, func(ctx context.Context, i int) error {
		nb, gates := changes[i].nb, changes[i].gates
		// The NodeBackup as just listed is usually current: write it as it
		// is, and read it again only when an agent wrote it meanwhile.
		cur := nb.DeepCopy()
		cur.Spec.GroupGates = gates
		err := c.Client.Update(ctx, cur)
		if apierrors.IsConflict(err) {
			err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
				if err := c.Client.Get(ctx, client.ObjectKeyFromObject(nb), cur); err != nil {
					return err
				}
				cur.Spec.GroupGates = gates
				return c.Client.Update(ctx, cur)
			})
		}
		if err != nil {
			return fmt.Errorf("nodebackup %s/%s: update group gates: %w", nb.Namespace, nb.Name, err)
		}
		*nb = *cur // as written: the caller's view stays current
		log.Debug("group gates", zap.String("nodeBackup", nb.Name), zap.Any("gates", gates))
		return nil
	})
}

// stopped handles the end of following: on the backup's deadline, the pods
// not final fail with that reason; on the caller's cancellation, it returns.
func (c *Coordinator) stopped(ctx context.Context, b *api.Backup, cause error, log *zap.Logger) (*api.Backup, error) {
	if !errors.Is(cause, context.DeadlineExceeded) {
		return nil, fmt.Errorf("backup %s/%s: %w", b.Namespace, b.Name, cause)
	}
	// Bounded, detached: the backup's own deadline has passed, and the
	// final status write (with the objects stored first) must still happen.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	var list api.NodeBackupList
	if err := c.Client.List(cctx, &list, client.InNamespace(b.Namespace), client.MatchingLabels{LabelBackup: b.Name}); err != nil {
		return nil, fmt.Errorf("backup %s/%s: list nodebackups after timeout: %w", b.Namespace, b.Name, err)
	}
	var timedOut []api.PodResult
	for i := range list.Items {
		nb := &list.Items[i]
		for _, a := range nb.Spec.Pods {
			if p := podStatus(nb, a.UID); p == nil || !final(p.Phase) {
				r := api.PodResult{Namespace: a.Namespace, Name: a.Name, UID: a.UID, Node: nb.Spec.NodeName,
					Phase: api.PodFailed, Cause: api.CauseBackupTimeout, Reason: fmt.Sprintf("agent on node %s did not finish the pod within the backup timeout %s", nb.Spec.NodeName, c.timeout())}
				r.MarkUncaptured(a.Volumes)
				timedOut = append(timedOut, r)
			}
		}
		nb.Spec.Pods = slices.DeleteFunc(nb.Spec.Pods, func(a api.PodAssignment) bool { p := podStatus(nb, a.UID); return p == nil || !final(p.Phase) })
	}
	pods, done := api.BackupReport(timedOut, list.Items)
	if _, err := c.fold(cctx, b, pods, done, log); err != nil {
		return nil, err
	}
	return b, nil
}

func podStatus(nb *api.NodeBackup, uid string) *api.PodResult {
	for i := range nb.Status.Pods {
		if nb.Status.Pods[i].UID == uid {
			return &nb.Status.Pods[i]
		}
	}
	return nil
}

// fold writes the aggregate of the backup's report (api.BackupReport) into its
// status, unless nothing changed; it reports whether the backup is final.
// Once every pod is final, the report is stored with the objects.
func (c *Coordinator) fold(ctx context.Context, b *api.Backup, pods []api.PodResult, done bool, log *zap.Logger) (bool, error) {
	if !done {
		// Counts only: an agent's write that changed no count (a pod going
		// from Freezing to Frozen) costs no Backup write.
		next := Aggregate(b.Status, pods, false)
		foldBackupHooks(b, &next)
		if equality.Semantic.DeepEqual(next, b.Status) {
			return false, nil
		}
		// Progress is for people: written at most every ProgressInterval,
		// so that it does not take the request budget the group gates
		// need. The final status is always written.
		now := c.now()
		if !c.lastProgress.IsZero() && now.Sub(c.lastProgress) < c.progressInterval() {
			return false, nil
		}
		c.lastProgress = now
	}
	var rec *recorded
	err := c.updateStatus(ctx, b, func(st *api.BackupStatus) {
		*st = Aggregate(*st, pods, done)
		if done && st.CompletionTimestamp == nil {
			now := metav1.NewTime(c.now())
			st.CompletionTimestamp = &now
		}
		// The pods are final: store the objects once, before the final
		// status is written (a conflict retry reuses the outcome).
		if done && c.Resources != nil {
			if rec == nil {
				rec = c.record(ctx, b, st, pods, log)
			}
			rec.apply(st)
		}
		foldBackupHooks(b, st) // final only once the backup-level post hooks ran
	})
	if done && err == nil && b.Status.Phase.Final() {
		c.finished(b)
		log.Info("backup finished", zap.String("phase", string(b.Status.Phase)),
			zap.Int("pods", b.Status.PodCounts.Total), zap.Int("hooksFailed", b.Status.HooksFailed))
	}
	return done, err
}

func (c *Coordinator) fail(ctx context.Context, b *api.Backup, reason string) {
	_ = c.updateStatus(ctx, b, func(st *api.BackupStatus) {
		st.Phase = api.BackupPhaseFailed
		st.Errors = append(st.Errors, reason)
		now := metav1.NewTime(c.now())
		st.CompletionTimestamp = &now
	})
}

// updateStatus applies mutate to the latest Backup and writes its status,
// retrying on conflicts; b is refreshed with the result.
func (c *Coordinator) updateStatus(ctx context.Context, b *api.Backup, mutate func(*api.BackupStatus)) error {
	// b is usually the Backup as this coordinator last wrote it: write from
	// it, and read the Backup again only when someone else wrote it.
	if b.ResourceVersion != "" {
		cur := b.DeepCopy()
		mutate(&cur.Status)
		err := c.Client.Status().Update(ctx, cur)
		if err == nil {
			*b = *cur
			return nil
		}
		if !apierrors.IsConflict(err) {
			return fmt.Errorf("backup %s/%s: update status: %w", b.Namespace, b.Name, err)
		}
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var cur api.Backup
		if err := c.Client.Get(ctx, client.ObjectKeyFromObject(b), &cur); err != nil {
			return err
		}
		mutate(&cur.Status)
		if err := c.Client.Status().Update(ctx, &cur); err != nil {
			return err
		}
		*b = cur
		return nil
	})
	if err != nil {
		return fmt.Errorf("backup %s/%s: update status: %w", b.Namespace, b.Name, err)
	}
	return nil
}

func (c *Coordinator) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 4 * time.Hour
}

// finished records a final Backup as an Event (its metrics come from the
// Exporter, which outlives this Job).
func (c *Coordinator) finished(b *api.Backup) {
	st := b.Status
	if c.Events != nil {
		typ := corev1.EventTypeNormal
		if st.Phase != api.BackupPhaseCompleted {
			typ = corev1.EventTypeWarning
		}
		c.Events.Eventf(b, typ, "Backup"+string(st.Phase), "%d pods, %d hooks failed, %d errors, %d warnings",
			st.PodCounts.Total, st.HooksFailed, len(st.Errors), len(st.Warnings))
	}
}
